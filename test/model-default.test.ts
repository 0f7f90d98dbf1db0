import { expect } from 'chai';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelFiles } from '../device/inference/manifest.ts';
import { VEGETABLE_LABELS } from '../scripts/onnx/make-test-models.ts';
import { PACKAGE_ROOT } from '../scripts/soak-service.ts';

const MODEL = join(PACKAGE_ROOT, 'models', 'vegetables-v1.onnx');

/** Top-level fields of an ONNX ModelProto that say which opsets it needs (field 8: OperatorSetIdProto). */
function opsetImports(bytes: Uint8Array): { domain: string; version: number }[] {
  let at = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return value;
    }
  };
  const out: { domain: string; version: number }[] = [];
  while (at < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) { varint(); continue; }
    if (wire !== 2) throw new Error(`unexpected wire type ${wire} at byte ${at}`);
    const len = varint();
    if (field === 8) {
      const sub = bytes.subarray(at, at + len);
      let domain = '';
      let version = 0;
      for (let i = 0; i < sub.length;) {
        const k = sub[i++]!;
        if (k === 0x0a) { const l = sub[i++]!; domain = Buffer.from(sub.subarray(i, i + l)).toString(); i += l; }
        else if (k === 0x10) { let v = 0; for (let s = 0; ; s += 7) { const b = sub[i++]!; v += (b & 0x7f) * 2 ** s; if (!(b & 0x80)) break; } version = v; }
        else break;
      }
      out.push({ domain, version });
    }
    at += len;
  }
  return out;
}

describe('the shipped default model (models/vegetables-v1)', function () {
  this.timeout(60_000);
  let session: ort.InferenceSession;
  let bytes: Buffer;

  before(async () => {
    const files = await loadModelFiles(MODEL); // refuses a SHA-256 that differs from the manifest
    bytes = files.bytes;
    expect(files.manifest.labels, 'the 15 coarse Grocery vegetable classes, spelled as in classes.csv').to.deep.equal([...VEGETABLE_LABELS]);
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  });

  after(async () => {
    await session?.release();
  });

  it('is at most 10 MB and needs no opset below 13', () => {
    expect(statSync(MODEL).size).to.be.at.most(10_000_000);
    const onnx = opsetImports(bytes).find((o) => o.domain === '');
    expect(onnx, 'an ai.onnx opset import').to.not.equal(undefined);
    expect(onnx!.version).to.be.at.least(13);
  });

  it('takes any batch size and gives logits [N,15] and an L2-normalised embedding [N,D] per image', async () => {
    const [w, h] = [96, 96];
    const manifest = JSON.parse(readFileSync(MODEL.replace(/\.onnx$/, '.json'), 'utf8')) as { input: { width: number; height: number } };
    expect([manifest.input.width, manifest.input.height]).to.deep.equal([w, h]);
    const image = (seed: number) => Float32Array.from({ length: 3 * w * h }, (_, i) => Math.sin(i * 0.37 + seed) * 1.5);
    const batch = new Float32Array(3 * 3 * w * h);
    [0, 1, 2].forEach((k) => batch.set(image(k), k * 3 * w * h));
    const out = await session.run({ input: new ort.Tensor('float32', batch, [3, 3, h, w]) });
    expect(out.logits!.dims).to.deep.equal([3, 15]);
    const dim = out.embedding!.dims[1]!;
    expect(out.embedding!.dims).to.deep.equal([3, dim]);
    const emb = out.embedding!.data as Float32Array;
    for (let k = 0; k < 3; k++) {
      const row = emb.subarray(k * dim, (k + 1) * dim);
      expect(Math.hypot(...row)).to.be.closeTo(1, 1e-4);
    }
    // The second image alone gives what it gave inside the batch: the batch dimension is really free.
    const alone = await session.run({ input: new ort.Tensor('float32', image(1), [1, 3, h, w]) });
    const logits = out.logits!.data as Float32Array;
    const single = alone.logits!.data as Float32Array;
    for (let c = 0; c < 15; c++) expect(single[c]).to.be.closeTo(logits[15 + c]!, 1e-3);
  });
});
