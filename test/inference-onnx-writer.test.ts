import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadModelFiles } from '../device/inference/manifest.ts';
import { loadModel } from '../device/inference/onnx-model.ts';
import { VEGETABLE_LABELS, writeBenchClassifier, writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { encodeModel, encodeTensor } from '../device/inference/onnx-writer.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../scripts/onnx/make-test-models.ts', import.meta.url));

describe('inference test models (TypeScript ONNX writer)', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'vegkiosk-onnx-writer-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  it('encodes protobuf fields byte for byte (hand-encoded TensorProto)', () => {
    // dims: 2 → 08 02; data_type FLOAT → 10 01; name "w" → 42 01 77; raw_data 2 float32 LE → 4a 08 …
    const bytes = encodeTensor({ name: 'w', dims: [2], data: [1, -2] });
    expect(Buffer.from(bytes).toString('hex')).to.equal('0802' + '1001' + '420177' + '4a08' + '0000803f' + '000000c0');
    // a negative int64 is ten bytes of two's complement
    expect(Buffer.from(encodeTensor({ dims: [1], int64: [-1] })).toString('hex')).to.equal('0801' + '1007' + '4a08' + 'ff'.repeat(8));
  });

  it('writes the same bytes every time, so committed manifests stay valid', async () => {
    const a = await writeTestClassifier(join(dir, 'a'));
    const b = await writeTestClassifier(join(dir, 'b'));
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).to.equal(true);
    expect(encodeModel({ graph: { name: 'g', nodes: [], inputs: [], outputs: [] } }).length).to.be.greaterThan(0);
  });

  it('the bench classifier is a real conv net with the production manifest shape', async () => {
    const bench = await writeBenchClassifier(dir, { size: 64, channels: [8, 16] });
    expect(bench.manifest).to.deep.include({ kind: 'classifier', labels: VEGETABLE_LABELS });
    expect(bench.manifest.input).to.deep.include({ width: 64, height: 64, resize: 'center-crop', layout: 'NCHW' });
    const model = await loadModel(bench.onnxPath, { executionProviders: ['cpu'], dataDir: dir, threads: 1 });
    try {
      expect(model.outputName).to.equal('logits');
      const prepared = await model.prepare({ data: Buffer.alloc(100 * 80 * 3, 77), width: 100, height: 80, channels: 3 });
      const r = await model.run(prepared);
      prepared.release();
      expect(r.top).to.have.length(5);
      const sum = r.top.reduce((s, t) => s + t.score, 0);
      expect(sum).to.be.greaterThan(0).and.at.most(1 + 1e-9);
    } finally {
      await model.close();
    }
  });

  it('has a command line: <dir> for the test models, --bench [--size N] for the benchmark model', async () => {
    const out = join(dir, 'cli');
    await run(process.execPath, ['--import', 'tsx', SCRIPT, out, '--bench', '--size', '32'], { timeout: 60_000 });
    await run(process.execPath, ['--import', 'tsx', SCRIPT, out], { timeout: 60_000 });
    expect((await readdir(out)).sort()).to.deep.equal([
      'bench-classifier.json', 'bench-classifier.onnx', 'test-classifier.json', 'test-classifier.onnx',
      'test-detector.json', 'test-detector.onnx',
    ]);
    expect((await loadModelFiles(join(out, 'bench-classifier.onnx'))).manifest.input.width).to.equal(32);
    const usage = await run(process.execPath, ['--import', 'tsx', SCRIPT], { timeout: 60_000 }).catch((e: { code: number; stderr: string }) => e);
    expect(usage).to.include({ code: 2 }).and.have.property('stderr').that.matches(/usage: make-test-models/);
  });
});
