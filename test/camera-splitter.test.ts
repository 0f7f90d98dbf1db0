import { expect } from 'chai';
import sharp from 'sharp';
import { JpegStreamSplitter } from '../device/camera/jpeg-stream-splitter.ts';

async function jpegOf(colour: string, options: { progressive?: boolean; width?: number } = {}): Promise<Buffer> {
  const width = options.width ?? 64;
  return sharp({ create: { width, height: 48, channels: 3, background: colour } })
    .jpeg({ quality: 80, progressive: options.progressive ?? false })
    .toBuffer();
}

/** Puts a whole JPEG (SOI…EOI included) inside an APP1 segment, the way EXIF thumbnails sit. */
function withThumbnail(jpeg: Buffer, thumbnail: Buffer): Buffer {
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), thumbnail]);
  const header = Buffer.from([0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]);
  return Buffer.concat([jpeg.subarray(0, 2), header, payload, jpeg.subarray(2)]);
}

function split(stream: Buffer, chunkSizes: (i: number) => number, maxFrameBytes = 1 << 20) {
  const frames: Buffer[] = [];
  const splitter = new JpegStreamSplitter({ maxFrameBytes, onFrame: (jpeg) => frames.push(jpeg) });
  for (let pos = 0, i = 0; pos < stream.length; i++) {
    const size = Math.max(1, chunkSizes(i));
    splitter.push(stream.subarray(pos, pos + size));
    pos += size;
  }
  return { frames, splitter };
}

describe('camera: JPEG stream splitter', () => {
  let red: Buffer;
  let green: Buffer;
  let blue: Buffer;

  before(async () => {
    [red, green, blue] = await Promise.all([jpegOf('#ff0000'), jpegOf('#00ff00'), jpegOf('#0000ff')]);
  });

  it('cuts concatenated JPEGs into the original frames whatever the chunking', () => {
    const stream = Buffer.concat([red, green, blue]);
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return 1 + (seed % 700);
    };
    for (const sizes of [() => 1, () => 2, () => 3, () => 4096, random, () => stream.length]) {
      const { frames } = split(stream, sizes);
      expect(frames.map((f) => f.equals(red) || f.equals(green) || f.equals(blue))).to.deep.equal([true, true, true]);
      expect(frames[0].equals(red) && frames[1].equals(green) && frames[2].equals(blue)).to.equal(true);
    }
  });

  it('ignores bytes between frames, including stray FF D9 and FF bytes', () => {
    const junk = Buffer.from([0x00, 0xff, 0xd9, 0xff, 0xff, 0x12, 0xff]);
    const stream = Buffer.concat([junk, red, junk, green, junk]);
    for (const size of [1, 5, 64]) {
      const { frames } = split(stream, () => size);
      expect(frames).to.have.length(2);
      expect(frames[0].equals(red)).to.equal(true);
      expect(frames[1].equals(green)).to.equal(true);
    }
  });

  it('does not end a frame at the EOI of an embedded EXIF thumbnail', async () => {
    const big = withThumbnail(red, await jpegOf('#ffffff', { width: 16 }));
    const { frames } = split(Buffer.concat([big, green]), () => 100);
    expect(frames).to.have.length(2);
    expect(frames[0].equals(big)).to.equal(true);
    expect((await sharp(frames[0]).metadata()).width).to.equal(64);
  });

  it('handles progressive JPEGs (several scans with tables between them)', async () => {
    const progressive = await jpegOf('#336699', { progressive: true });
    const { frames } = split(Buffer.concat([progressive, progressive]), () => 33);
    expect(frames).to.have.length(2);
    expect(frames[1].equals(progressive)).to.equal(true);
  });

  it('recovers the next frame after a frame cut short anywhere in its image data', async () => {
    const busy = await sharp({ create: { width: 160, height: 120, channels: 3, background: '#ff0000' } })
      .composite([{ input: Buffer.from('<svg width="160" height="120"><circle cx="60" cy="50" r="40" fill="blue"/></svg>') }])
      .jpeg()
      .toBuffer();
    const sos = busy.indexOf(Buffer.from([0xff, 0xda]));
    const dataStart = sos + 2 + busy.readUInt16BE(sos + 2);
    let drops = 0;
    for (let cut = dataStart; cut < busy.length - 2; cut += 3) {
      const { frames, splitter } = split(Buffer.concat([busy.subarray(0, cut), green]), () => 97);
      expect(frames, `cut at ${cut}`).to.have.length(1);
      expect(frames[0].equals(green), `cut at ${cut}`).to.equal(true);
      drops += splitter.dropped;
    }
    expect(drops).to.be.greaterThan(0);
  });

  it('recovers the next frame after a frame cut short inside a header segment', () => {
    // Cut inside the Huffman table: its length field swallows the start of the next frame.
    const dht = red.indexOf(Buffer.from([0xff, 0xc4]));
    const { frames } = split(Buffer.concat([red.subarray(0, dht + 20), green]), () => 50);
    expect(frames).to.have.length(1);
    expect(frames[0].equals(green)).to.equal(true);
  });

  it('drops frames larger than maxFrameBytes and recovers on the next one', () => {
    const limit = Math.max(red.length, green.length) + 10;
    const huge = withThumbnail(red, Buffer.alloc(limit, 0x11));
    const { frames, splitter } = split(Buffer.concat([huge, green, blue]), () => 256, limit);
    expect(frames.map((f) => f.equals(green) || f.equals(blue))).to.deep.equal([true, true]);
    expect(splitter.dropped).to.equal(1);
  });

  it('holds no memory for garbage that never becomes a frame', () => {
    const frames: Buffer[] = [];
    const splitter = new JpegStreamSplitter({ maxFrameBytes: 1000, onFrame: (jpeg) => frames.push(jpeg) });
    // A SOI followed by a header that never ends: abandoned once past the limit.
    splitter.push(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff]));
    for (let i = 0; i < 100; i++) splitter.push(Buffer.alloc(4096, 0x42));
    splitter.push(blue);
    expect(frames).to.have.length(1);
    expect(frames[0].equals(blue)).to.equal(true);
  });
});
