import { expect } from 'chai';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelFiles } from '../device/inference/manifest.ts';
import type { ModelManifest } from '../device/inference/model.ts';
import { VEGETABLE_LABELS } from '../scripts/onnx/make-test-models.ts';
import { PACKAGE_ROOT } from '../scripts/soak-service.ts';

const MODEL = join(PACKAGE_ROOT, 'models', 'vegetables-v2.onnx');

/** Protobuf varint at `at` in `buf`: [value, position after it]. */
function varint(buf: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const b = buf[at++]!;
    value += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [value, at];
  }
}

/**
 * The opsets an ONNX ModelProto imports (its field 8, OperatorSetIdProto: domain = field 1, version =
 * field 2), read from the top-level fields of the message without a protobuf library.
 */
function opsetImports(bytes: Uint8Array): { domain: string; version: number }[] {
  const fields = (msg: Uint8Array, visit: (field: number, wire: number, value: number, body: Uint8Array) => void) => {
    for (let at = 0; at < msg.length;) {
      let key: number, value: number;
      [key, at] = varint(msg, at);
      const wire = key & 7;
      if (wire !== 0 && wire !== 2) throw new Error(`unexpected wire type ${wire} at byte ${at}`);
      [value, at] = varint(msg, at);
      const body = wire === 2 ? msg.subarray(at, at + value) : msg.subarray(0, 0);
      if (wire === 2) at += value;
      visit(Math.floor(key / 8), wire, value, body);
    }
  };
  const out: { domain: string; version: number }[] = [];
  fields(bytes, (field, wire, _value, body) => {
    if (field !== 8 || wire !== 2) return;
    const opset = { domain: '', version: 0 };
    fields(body, (f, w, v, b) => {
      if (f === 1 && w === 2) opset.domain = Buffer.from(b).toString();
      if (f === 2 && w === 0) opset.version = v;
    });
    out.push(opset);
  });
  return out;
}

describe('the shipped default model (models/vegetables-v2)', function () {
  this.timeout(60_000);
  let session: ort.InferenceSession;
  let bytes: Buffer;
  let manifest: ModelManifest;

  before(async () => {
    const files = await loadModelFiles(MODEL); // refuses a SHA-256 that differs from the manifest
    bytes = files.bytes;
    manifest = files.manifest;
    expect(files.manifest.labels, 'the 15 coarse Grocery vegetable classes, spelled as in classes.csv').to.deep.equal([...VEGETABLE_LABELS]);
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
  });

  after(async () => {
    await session?.release();
  });

  it('is at most 15 MB and needs no opset below 13', () => {
    expect(statSync(MODEL).size).to.be.at.most(15_000_000);
    const onnx = opsetImports(bytes).find((o) => o.domain === '');
    expect(onnx, 'an ai.onnx opset import').to.not.equal(undefined);
    expect(onnx!.version).to.be.at.least(13);
  });

  it('takes any batch size and gives logits [N,15] and an L2-normalised embedding [N,D] per image', async () => {
    const [w, h] = [manifest.input.width, manifest.input.height];
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

  it('has a cosine head: logits are the manifest scale times the embedding against the normalised class weights', async () => {
    // The rule a kiosk relies on to add a learned class (weight imprinting): one more normalised row.
    const head = (JSON.parse(readFileSync(MODEL.replace(/\.onnx$/, '.json'), 'utf8')) as { head?: { kind: string; scale: number } }).head;
    expect(head?.kind).to.equal('cosine');
    const [w, h] = [manifest.input.width, manifest.input.height];
    const x = Float32Array.from({ length: 3 * w * h }, (_, i) => Math.cos(i * 0.11));
    const out = await session.run({ input: new ort.Tensor('float32', x, [1, 3, h, w]) });
    const weights = out.class_weights!;
    const dim = out.embedding!.dims[1]!;
    expect(weights.dims).to.deep.equal([15, dim]);
    const W = weights.data as Float32Array;
    const e = out.embedding!.data as Float32Array;
    for (let c = 0; c < 15; c++) {
      const row = W.subarray(c * dim, (c + 1) * dim);
      expect(Math.hypot(...row), `class ${c} weight norm`).to.be.closeTo(1, 1e-4);
      const cos = row.reduce((sum, v, i) => sum + v * e[i]!, 0);
      expect((out.logits!.data as Float32Array)[c]).to.be.closeTo(head!.scale * cos, 1e-3);
    }
  });
});
