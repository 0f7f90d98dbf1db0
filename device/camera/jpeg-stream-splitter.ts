const SOI = Buffer.from([0xff, 0xd8]);

const Scan = {
  /** Between frames: looking for FF D8. */
  Seek: 0,
  /** Inside the header: the next byte must be FF, starting a marker. */
  MarkerStart: 1,
  /** Read FF; the next byte is the marker code (more FFs are fill). */
  MarkerCode: 2,
  LengthHigh: 3,
  LengthLow: 4,
  /** Skipping the payload of a length-prefixed segment. */
  Skip: 5,
  /** Entropy-coded data after SOS: only FF bytes matter. */
  Entropy: 6,
  EntropyAfterFF: 7,
} as const;
type ScanState = (typeof Scan)[keyof typeof Scan];

const MARKER_SOS = 0xda;
const MARKER_EOI = 0xd9;
const MARKER_SOI = 0xd8;

function isStandalone(code: number): boolean {
  // TEM and RST0..7 carry no length field.
  return code === 0x01 || (code >= 0xd0 && code <= 0xd7);
}

export interface JpegStreamSplitterOptions {
  /** A frame that grows past this is dropped and the scan resynchronises on the next SOI. */
  maxFrameBytes: number;
  onFrame: (jpeg: Buffer) => void;
}

/**
 * Cuts a byte stream of concatenated JPEGs (ffmpeg -f mjpeg, rpicam-vid --codec mjpeg,
 * gst jpegenc ! fdsink) into single JPEGs.
 *
 * It walks the marker segments instead of searching for the next FF D9, because an EXIF APP1
 * segment can hold a whole thumbnail JPEG, SOI and EOI included; only an EOI in marker position
 * ends a frame. State survives chunk boundaries, and memory is bounded by maxFrameBytes: garbage
 * before a SOI is never kept, and an oversized or corrupt frame is dropped.
 */
export class JpegStreamSplitter {
  private readonly maxFrameBytes: number;
  private readonly onFrame: (jpeg: Buffer) => void;
  private state: ScanState = Scan.Seek;
  private seekSawFF = false;
  private parts: Buffer[] = [];
  private frameBytes = 0;
  private segmentCode = 0;
  private lengthHigh = 0;
  private remaining = 0;
  /** Frames dropped because they were corrupt or too large. */
  dropped = 0;

  constructor(options: JpegStreamSplitterOptions) {
    this.maxFrameBytes = options.maxFrameBytes;
    this.onFrame = options.onFrame;
  }

  push(chunk: Buffer): void {
    const queue: Buffer[] = [chunk];
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const leftover = this.scan(next);
      if (leftover) queue.unshift(...leftover);
    }
  }

  /**
   * Scans one buffer. On a broken header it gives up the frame and returns the bytes to scan
   * again: everything after the broken frame's SOI, because a truncated frame's last segment
   * length can swallow the start of the next frame.
   */
  private scan(chunk: Buffer): Buffer[] | null {
    let pos = 0;
    // Where the current frame's bytes begin in this chunk; -1 while between frames.
    let frameStart = this.state === Scan.Seek ? -1 : 0;
    const end = chunk.length;

    const beginFrame = (afterSoi: number): void => {
      if (this.state !== Scan.Seek) this.dropped++;
      this.parts = [SOI];
      this.frameBytes = SOI.length;
      frameStart = afterSoi;
      this.state = Scan.MarkerStart;
    };
    const abandonFrame = (): void => {
      this.dropped++;
      this.parts = [];
      this.frameBytes = 0;
      frameStart = -1;
      this.state = Scan.Seek;
      this.seekSawFF = false;
    };
    const rescanFrom = (at: number): Buffer[] => {
      const replay = Buffer.concat([...this.parts.slice(1), chunk.subarray(frameStart, at)]);
      abandonFrame();
      return [replay, chunk.subarray(at)];
    };
    const finishFrame = (eoiIndex: number): void => {
      const tail = chunk.subarray(frameStart, eoiIndex + 1);
      const size = this.frameBytes + tail.length;
      const parts = this.parts;
      this.parts = [];
      this.frameBytes = 0;
      frameStart = -1;
      this.state = Scan.Seek;
      this.seekSawFF = false;
      if (size > this.maxFrameBytes) {
        this.dropped++;
        return;
      }
      parts.push(tail);
      this.onFrame(Buffer.concat(parts, size));
    };
    /** Handles the code byte of a marker found in header or entropy position. */
    const onMarkerCode = (code: number, index: number): void => {
      if (code === MARKER_EOI) {
        finishFrame(index);
      } else if (code === MARKER_SOI) {
        // The previous frame was cut short (a killed encoder); the new one starts here.
        beginFrame(index + 1);
      } else if (isStandalone(code)) {
        this.state = Scan.MarkerStart;
      } else {
        this.segmentCode = code;
        this.state = Scan.LengthHigh;
      }
    };

    while (pos < end) {
      switch (this.state) {
        case Scan.Seek: {
          if (this.seekSawFF && chunk[pos] === MARKER_SOI) {
            beginFrame(pos + 1);
            pos++;
            break;
          }
          this.seekSawFF = false;
          const ff = chunk.indexOf(0xff, pos);
          if (ff === -1) {
            pos = end;
          } else if (ff + 1 < end) {
            if (chunk[ff + 1] === MARKER_SOI) {
              beginFrame(ff + 2);
              pos = ff + 2;
            } else {
              pos = ff + 1;
            }
          } else {
            this.seekSawFF = true;
            pos = end;
          }
          break;
        }
        case Scan.MarkerStart:
          if (chunk[pos] !== 0xff) return rescanFrom(pos);
          this.state = Scan.MarkerCode;
          pos++;
          break;
        case Scan.MarkerCode: {
          const code = chunk[pos];
          if (code !== 0xff) onMarkerCode(code, pos);
          pos++;
          break;
        }
        case Scan.LengthHigh:
          this.lengthHigh = chunk[pos];
          this.state = Scan.LengthLow;
          pos++;
          break;
        case Scan.LengthLow: {
          const length = (this.lengthHigh << 8) | chunk[pos];
          if (length < 2) return rescanFrom(pos);
          pos++;
          this.remaining = length - 2;
          this.state = Scan.Skip;
          if (this.remaining === 0) this.afterSegment();
          break;
        }
        case Scan.Skip: {
          const step = Math.min(this.remaining, end - pos);
          pos += step;
          this.remaining -= step;
          if (this.remaining === 0) this.afterSegment();
          break;
        }
        case Scan.Entropy: {
          const ff = chunk.indexOf(0xff, pos);
          if (ff === -1) {
            pos = end;
          } else {
            this.state = Scan.EntropyAfterFF;
            pos = ff + 1;
          }
          break;
        }
        case Scan.EntropyAfterFF: {
          const code = chunk[pos];
          if (code === 0x00 || (code >= 0xd0 && code <= 0xd7)) {
            // Byte stuffing or a restart marker: still entropy data.
            this.state = Scan.Entropy;
          } else if (code !== 0xff) {
            // Any other marker: EOI, or DHT/SOS between progressive scans.
            onMarkerCode(code, pos);
          }
          pos++;
          break;
        }
      }
    }

    if (this.state !== Scan.Seek && frameStart !== -1) {
      const tail = chunk.subarray(frameStart);
      this.frameBytes += tail.length;
      if (this.frameBytes > this.maxFrameBytes) {
        abandonFrame();
      } else if (tail.length > 0) {
        this.parts.push(tail);
      }
    }
    return null;
  }

  private afterSegment(): void {
    this.state = this.segmentCode === MARKER_SOS ? Scan.Entropy : Scan.MarkerStart;
  }

  /** Forgets a partial frame, e.g. when the producing process is replaced. */
  reset(): void {
    this.state = Scan.Seek;
    this.seekSawFF = false;
    this.parts = [];
    this.frameBytes = 0;
  }
}
