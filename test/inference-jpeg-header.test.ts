import { expect } from 'chai';
import sharp from 'sharp';
import { plainJpegSize } from '../device/inference/jpeg-header.ts';
import type { ModelManifest } from '../device/inference/model.ts';
import { ImageInputError, Preprocessor } from '../device/inference/preprocess.ts';

const picture = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: 200, g: 90, b: 30 } } })
    .composite([{ input: Buffer.from(`<svg width="${w}" height="${h}"><circle cx="${w / 3}" cy="${h / 2}" r="${h / 4}" fill="green"/></svg>`) }]);

describe('JPEG frame size from the header (the camera fast path)', () => {
  it('reads width and height of baseline and progressive JPEGs, as sharp does', async () => {
    for (const [w, h, progressive] of [[1280, 720, false], [640, 480, true], [17, 3001, false]] as const) {
      const jpeg = await picture(w, h).jpeg({ progressive }).toBuffer();
      const meta = await sharp(jpeg).metadata();
      expect(plainJpegSize(jpeg)).to.deep.equal({ width: meta.width, height: meta.height });
    }
  });

  it('says null for what sharp must read: EXIF (orientation), other formats, cut-off or broken headers', async () => {
    const exif = await picture(40, 20).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const png = await picture(40, 20).png().toBuffer();
    const jpeg = await picture(40, 20).jpeg().toBuffer();
    const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).to.be.greaterThan(0);
    const zeroHeight = Buffer.from(jpeg);
    zeroHeight.writeUInt16BE(0, sof + 5); // a height left to a DNL marker
    for (const [what, bytes] of [
      ['EXIF', exif], ['PNG', png], ['header cut before the frame header', jpeg.subarray(0, sof)],
      ['zero height', zeroHeight], ['not an image', Buffer.from('this is not an image')], ['empty', Buffer.alloc(0)],
    ] as const) {
      expect(plainJpegSize(bytes), what).to.equal(null);
    }
  });

  it('prepares a camera frame exactly as the metadata path does (same pixels, same source size)', async () => {
    const input = { width: 96, height: 96, layout: 'NCHW', color: 'RGB', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'stretch' } as ModelManifest['input'];
    const frame = await picture(1280, 720).jpeg({ quality: 85 }).toBuffer();
    // The same bytes with an EXIF segment saying "upright" (orientation 1) spliced in after SOI: same
    // picture, but it must go down the metadata path.
    const tiff = Buffer.from([0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
    const app1 = Buffer.from([0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]);
    const tagged = Buffer.concat([frame.subarray(0, 2), app1, payload, frame.subarray(2)]);
    expect((await sharp(tagged).metadata()).orientation).to.equal(1);
    expect(plainJpegSize(frame)).to.deep.equal({ width: 1280, height: 720 });
    expect(plainJpegSize(tagged)).to.equal(null);
    const viaHeader = await new Preprocessor(input).prepare(frame);
    const viaMetadata = await new Preprocessor(input).prepare(tagged);
    expect([viaHeader.sourceWidth, viaHeader.sourceHeight]).to.deep.equal([viaMetadata.sourceWidth, viaMetadata.sourceHeight]);
    expect(Array.from(viaHeader.data)).to.deep.equal(Array.from(viaMetadata.data));
  });

  it('a JPEG whose header parses but whose data is cut off still fails as an ImageInputError', async () => {
    const jpeg = await picture(320, 240).jpeg().toBuffer();
    const cut = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    expect(plainJpegSize(cut)).to.deep.equal({ width: 320, height: 240 });
    let err: unknown;
    try { await new Preprocessor({ width: 8, height: 8, layout: 'NCHW', color: 'RGB', mean: [0, 0, 0], std: [1, 1, 1], resize: 'stretch' } as ModelManifest['input']).prepare(cut); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(ImageInputError).with.property('message').that.matches(/cannot decode image/);
  });
});
