import { expect } from 'chai';
import sharp from 'sharp';
import type { ModelManifest } from '../device/inference/model.ts';
import { fillTensor, ImageInputError, LETTERBOX_PAD, planResize, Preprocessor } from '../device/inference/preprocess.ts';

type InputSpec = ModelManifest['input'];
const spec = (over: Partial<InputSpec> = {}): InputSpec => ({
  width: 2, height: 1, layout: 'NCHW', color: 'RGB', mean: [0, 0, 0], std: [1, 1, 1], resize: 'stretch', ...over,
});
const closeAll = (actual: ArrayLike<number>, expected: number[], eps = 1e-6) => {
  expect(actual.length).to.equal(expected.length);
  expected.forEach((e, i) => expect(actual[i], `index ${i}`).to.be.closeTo(e, eps));
};
const uniform = (w: number, h: number, rgb: [number, number, number]) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });

describe('inference preprocess: geometry', () => {
  it('center-crop 1280x720 → 224x224: shorter side to 224 (398x224), 87 px cropped off the left', () => {
    // s = max(224/1280, 224/720) = 0.3111; 1280*s = 398.2 → 398; (398-224)/2 = 87
    expect(planResize('center-crop', 1280, 720, 224, 224)).to.deep.equal({
      resizedWidth: 398, resizedHeight: 224, offsetX: -87, offsetY: 0, scaleX: 398 / 1280, scaleY: 224 / 720,
    });
  });

  it('letterbox 1280x720 → 640x640: 640x360 with 140 px borders top and bottom', () => {
    expect(planResize('letterbox', 1280, 720, 640, 640)).to.deep.equal({
      resizedWidth: 640, resizedHeight: 360, offsetX: 0, offsetY: 140, scaleX: 0.5, scaleY: 0.5,
    });
  });

  it('stretch ignores the aspect ratio', () => {
    expect(planResize('stretch', 100, 50, 64, 64)).to.deep.equal({
      resizedWidth: 64, resizedHeight: 64, offsetX: 0, offsetY: 0, scaleX: 0.64, scaleY: 1.28,
    });
  });
});

describe('inference preprocess: tensor fill', () => {
  // Two pixels: (10,20,30) and (40,50,60).
  const px = { data: Buffer.from([10, 20, 30, 40, 50, 60]), width: 2, height: 1, channels: 3 };

  it('NCHW RGB is planar: all R, then all G, then all B', () => {
    const t = new Float32Array(6);
    fillTensor(t, px, spec(), 0, 0);
    closeAll(t, [10, 40, 20, 50, 30, 60].map((v) => v / 255));
  });

  it('NHWC RGB is interleaved', () => {
    const t = new Float32Array(6);
    fillTensor(t, px, spec({ layout: 'NHWC' }), 0, 0);
    closeAll(t, [10, 20, 30, 40, 50, 60].map((v) => v / 255));
  });

  it('BGR swaps red and blue', () => {
    const t = new Float32Array(6);
    fillTensor(t, px, spec({ color: 'BGR' }), 0, 0);
    closeAll(t, [30, 60, 20, 50, 10, 40].map((v) => v / 255));
  });

  it('normalises (x/255 - mean) / std per channel', () => {
    const t = new Float32Array(6);
    fillTensor(t, px, spec({ layout: 'NHWC', mean: [0.5, 0, 0.1], std: [0.25, 2, 0.5] }), 0, 0);
    closeAll(t, [
      (10 / 255 - 0.5) / 0.25, 20 / 255 / 2, (30 / 255 - 0.1) / 0.5,
      (40 / 255 - 0.5) / 0.25, 50 / 255 / 2, (60 / 255 - 0.1) / 0.5,
    ]);
  });

  it('fills what the image does not cover with 114 (letterbox border)', () => {
    const t = new Float32Array(2 * 3 * 3);
    fillTensor(t, px, spec({ height: 3, layout: 'NHWC' }), 0, 1);
    const pad = LETTERBOX_PAD / 255;
    closeAll(t, [
      pad, pad, pad, pad, pad, pad,
      10 / 255, 20 / 255, 30 / 255, 40 / 255, 50 / 255, 60 / 255,
      pad, pad, pad, pad, pad, pad,
    ]);
  });

  it('reads a window of a bigger image (center-crop offset)', () => {
    const wide = { data: Buffer.from([1, 1, 1, 10, 20, 30, 40, 50, 60, 2, 2, 2]), width: 4, height: 1, channels: 3 };
    const t = new Float32Array(6);
    fillTensor(t, wide, spec({ layout: 'NHWC' }), -1, 0);
    closeAll(t, [10, 20, 30, 40, 50, 60].map((v) => v / 255));
  });

  it('replicates a single grey channel', () => {
    const t = new Float32Array(6);
    fillTensor(t, { data: Buffer.from([51, 102]), width: 2, height: 1, channels: 1 }, spec({ layout: 'NHWC' }), 0, 0);
    closeAll(t, [51, 51, 51, 102, 102, 102].map((v) => v / 255));
  });
});

describe('inference preprocess: images', () => {
  it('raw RGB input letterboxed 4x2 → 4x4 keeps its colour and records the border', async () => {
    const raw = { data: Buffer.from(Array.from({ length: 8 }, () => [255, 0, 51]).flat()), width: 4, height: 2, channels: 3 as const };
    const p = new Preprocessor(spec({ width: 4, height: 4, resize: 'letterbox' }));
    const prepared = await p.prepare(raw);
    expect(prepared).to.deep.include({ sourceWidth: 4, sourceHeight: 2, scaleX: 1, scaleY: 1, padX: 0, padY: 1 });
    const pad = LETTERBOX_PAD / 255;
    const plane = (v: number) => [pad, pad, pad, pad, v, v, v, v, v, v, v, v, pad, pad, pad, pad];
    closeAll(prepared.data, [...plane(1), ...plane(0), ...plane(51 / 255)]);
  });

  it('raw RGBA input drops the alpha channel', async () => {
    const raw = { data: Buffer.from([0, 255, 0, 7, 0, 255, 0, 7]), width: 2, height: 1, channels: 4 as const };
    const prepared = await new Preprocessor(spec({ layout: 'NHWC' })).prepare(raw);
    closeAll(prepared.data, [0, 1, 0, 0, 1, 0]);
  });

  it('raw input may be a view with spare bytes after the pixels', async () => {
    const raw = { data: Buffer.from([10, 20, 30, 40, 50, 60, 99, 99, 99]), width: 2, height: 1, channels: 3 as const };
    const prepared = await new Preprocessor(spec({ layout: 'NHWC' })).prepare(raw);
    closeAll(prepared.data, [10, 20, 30, 40, 50, 60].map((v) => v / 255));
  });

  it('PNG input center-cropped keeps an exact uniform colour and reports the source size', async () => {
    const png = await uniform(640, 480, [200, 100, 50]).png().toBuffer();
    const p = new Preprocessor(spec({ width: 8, height: 8, resize: 'center-crop', layout: 'NHWC' }));
    const prepared = await p.prepare(png);
    expect(prepared).to.deep.include({ sourceWidth: 640, sourceHeight: 480, padY: 0 });
    // 8/480 → 11x8, 1 px cropped off the left (floor((11-8)/2))
    expect(prepared.padX).to.equal(-1);
    closeAll(prepared.data, Array.from({ length: 64 }, () => [200 / 255, 100 / 255, 50 / 255]).flat());
  });

  it('center-crop takes the window the geometry plans: the same tensor as resizing all and cropping here', async () => {
    // left half red, right half green, a blue square off-centre: any misplaced window shows
    const photo = await uniform(640, 360, [220, 20, 20])
      .composite([
        { input: await uniform(320, 360, [20, 220, 20]).png().toBuffer(), left: 320, top: 0 },
        { input: await uniform(60, 60, [20, 20, 220]).png().toBuffer(), left: 400, top: 40 },
      ]).png().toBuffer();
    const s = spec({ width: 48, height: 48, resize: 'center-crop' });
    const prepared = await new Preprocessor(s).prepare(photo);
    const plan = planResize('center-crop', 640, 360, 48, 48);
    const whole = await sharp(photo).resize(plan.resizedWidth, plan.resizedHeight, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
    const expected = new Float32Array(48 * 48 * 3);
    fillTensor(expected, { data: whole.data, width: whole.info.width, height: whole.info.height, channels: whole.info.channels }, s, plan.offsetX, plan.offsetY);
    closeAll(prepared.data, [...expected]);
  });

  it('center-crops an extreme panorama without producing the whole resized strip', async () => {
    // 20000x2 px, 600 bytes as PNG; resized whole to 96 px high it is 960000x96 px, 276 MB of RGB
    const strip = await uniform(20_000, 2, [10, 200, 30]).png().toBuffer();
    const p = new Preprocessor(spec({ width: 96, height: 96, resize: 'center-crop', layout: 'NHWC' }));
    const before = process.memoryUsage().rss;
    const prepared = await p.prepare(strip);
    const grownMb = (process.memoryUsage().rss - before) / 2 ** 20;
    expect(grownMb, 'resident memory grew by').to.be.below(100);
    closeAll(prepared.data, Array.from({ length: 96 * 96 }, () => [10 / 255, 200 / 255, 30 / 255]).flat());
  });

  it('JPEG input is decoded (within JPEG rounding of its colour)', async () => {
    const jpeg = await uniform(1280, 720, [30, 160, 90]).jpeg({ quality: 95 }).toBuffer();
    const prepared = await new Preprocessor(spec({ width: 16, height: 16, resize: 'stretch' })).prepare(jpeg);
    expect(prepared).to.deep.include({ sourceWidth: 1280, sourceHeight: 720 });
    const plane = 16 * 16;
    for (const [c, v] of [30, 160, 90].entries()) {
      for (let i = 0; i < plane; i += 37) expect(prepared.data[c * plane + i]! * 255).to.be.closeTo(v, 3);
    }
  });

  it('applies EXIF orientation, so a portrait phone photo is seen upright', async () => {
    const jpeg = await uniform(40, 20, [0, 0, 0]).withMetadata({ orientation: 6 }).jpeg().toBuffer();
    const prepared = await new Preprocessor(spec({ width: 4, height: 4 })).prepare(jpeg);
    expect([prepared.sourceWidth, prepared.sourceHeight]).to.deep.equal([20, 40]);
  });

  it('reuses its pool, never hands one buffer out twice, and survives a consumer that forgets release()', async () => {
    const raw = { data: Buffer.alloc(2 * 1 * 3, 9), width: 2, height: 1, channels: 3 as const };
    const p = new Preprocessor(spec(), { poolSize: 2 });
    const a = await p.prepare(raw);
    const b = await p.prepare(raw);
    expect(a.data).to.not.equal(b.data);
    expect(p.stats()).to.deep.equal({ poolSize: 2, free: 0, overflowAllocations: 0 });
    const c = await p.prepare(raw); // pool exhausted: a fresh buffer rather than a deadlock
    expect(c.data).to.not.equal(a.data).and.not.equal(b.data);
    expect(p.stats().overflowAllocations).to.equal(1);
    a.release();
    a.release(); // idempotent
    c.release(); // not pooled: dropped
    expect(p.stats().free).to.equal(1);
    const d = await p.prepare(raw);
    expect(d.data).to.equal(a.data);
    const e = await p.prepare(raw);
    expect(e.data).to.not.equal(d.data);
  });

  it('rejects undecodable bytes and impossible raw images with an ImageInputError', async () => {
    const p = new Preprocessor(spec());
    let err: unknown;
    try { await p.prepare(Buffer.from('this is not an image')); } catch (e) { err = e; }
    expect(err).to.be.instanceOf(ImageInputError).with.property('message').that.matches(/cannot decode image/);
    for (const bad of [
      { data: Buffer.alloc(5), width: 2, height: 1, channels: 3 as const },
      { data: Buffer.alloc(6), width: 0, height: 1, channels: 3 as const },
    ]) {
      err = undefined;
      try { await p.prepare(bad); } catch (e) { err = e; }
      expect(err).to.be.instanceOf(ImageInputError);
    }
    expect(p.stats().free).to.equal(2); // failures never take a buffer
  });
});
