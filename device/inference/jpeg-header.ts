/**
 * The size of a JPEG read from its frame header (SOF marker), without libvips.
 *
 * Asking sharp for metadata costs a libvips call and a trip through the libuv thread pool before the
 * decode itself (0.2-0.4 ms of a 720p frame's 2.5-4 ms here). Camera frames, which are most of what the
 * service decodes, carry no EXIF, so their size is all the header has to say. Anything else (EXIF or
 * XMP in APP1, whose orientation may swap width and height; not a JPEG; an odd header) gets null, and
 * the caller asks sharp as before.
 */
export function plainJpegSize(buf: Uint8Array): { width: number; height: number } | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return null;
  const u16 = (at: number) => (buf[at]! << 8) | buf[at + 1]!;
  let at = 2;
  while (at + 4 <= buf.length) {
    if (buf[at] !== 0xff) return null;
    const marker = buf[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte before a marker
      continue;
    }
    at += 2;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue; // markers without a length
    if (marker === 0xd9 || marker === 0xda) return null; // image data before any frame header
    const length = u16(at);
    if (length < 2 || at + length > buf.length) return null;
    if (marker === 0xe1) return null; // APP1: EXIF/XMP, orientation is sharp's to read
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (length < 8) return null;
      const height = u16(at + 3);
      const width = u16(at + 5);
      return width > 0 && height > 0 ? { width, height } : null;
    }
    at += length;
  }
  return null;
}
