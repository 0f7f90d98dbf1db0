import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  conciseOrtError, ExecutionProviderError, planProviders, resolveThreads, type ProviderEnvironment,
} from '../device/inference/execution-providers.ts';
import { ModelFileError, sha256Hex } from '../device/inference/manifest.ts';
import { loadModel, type OnnxModel } from '../device/inference/onnx-model.ts';
import { testClassifierWeights, writeModelFiles } from '../scripts/onnx/make-test-models.ts';
import { expectedClassifierProbabilities, makeTempModels, type TempModels } from './fixtures/inference/temp-models.ts';

const uniformPng = (w: number, h: number, rgb: [number, number, number]) =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();

async function rejection<T extends Error>(p: Promise<unknown>, type: new (...args: any[]) => T): Promise<T> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(type);
    return err as T;
  }
  throw new Error(`expected a ${type.name}`);
}

describe('inference model (cpu)', () => {
  let models: TempModels;
  const open: OnnxModel[] = [];
  // A binding folder without GPU provider libraries, so the outcome is the same on a machine that has them.
  const noGpuLibs: ProviderEnvironment = { bindingDir: '/nonexistent/onnxruntime-bin' };
  const load = async (path: string, eps: string[] = ['cpu']) => {
    const m = await loadModel(path, { executionProviders: eps, dataDir: models.dir, threads: 1, providerEnvironment: noGpuLibs });
    open.push(m);
    return m;
  };
  before(async () => { models = await makeTempModels(); });
  after(async () => {
    for (const m of open) await m.close();
    await models.cleanup();
  });

  it('classifies a uniform colour as computed by hand from the weights, picking "logits" over "embedding"', async () => {
    const model = await load(models.classifier.onnxPath);
    expect(model.outputName).to.equal('logits');
    expect(model.executionProvider).to.equal('cpu');
    const { labels, input, thresholds } = models.classifier.manifest;
    const { weights, bias } = testClassifierWeights(labels.length);
    const rgb: [number, number, number] = [200, 40, 30];
    const expected = expectedClassifierProbabilities(rgb, weights, bias, input.mean, input.std);
    const prepared = await model.prepare(await uniformPng(320, 240, rgb));
    const r = await model.run(prepared);
    prepared.release();
    const order = expected.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]);
    expect(r.top.map((t) => t.label)).to.deep.equal(order.map(([, i]) => labels[i]));
    r.top.forEach((t, i) => expect(t.score).to.be.closeTo(order[i]![0], 1e-5));
    expect(r.label).to.equal(order[0]![0] >= thresholds.score ? labels[order[0]![1]] : null);
  });

  it('honours NHWC, BGR and a softmax output', async () => {
    const variant = await models.classifierVariant({ name: 'nhwc-bgr', layout: 'NHWC', color: 'BGR', format: 'softmax', size: 32 });
    const model = await load(variant.onnxPath);
    expect(model.outputName).to.equal('probabilities');
    const { labels, input } = variant.manifest;
    const { weights, bias } = testClassifierWeights(labels.length);
    const rgb: [number, number, number] = [20, 90, 230];
    const expected = expectedClassifierProbabilities(rgb, weights, bias, input.mean, input.std, 'BGR');
    const prepared = await model.prepare(await uniformPng(64, 64, rgb));
    const r = await model.run(prepared);
    prepared.release();
    for (const t of r.top) expect(t.score).to.be.closeTo(expected[labels.indexOf(t.label)]!, 1e-5);
  });

  it('gives label null under the score threshold', async () => {
    const variant = await models.classifierVariant({ name: 'strict', scoreThreshold: 0.99 });
    const model = await load(variant.onnxPath);
    const prepared = await model.prepare(await uniformPng(64, 64, [128, 128, 128]));
    const r = await model.run(prepared);
    prepared.release();
    expect(r.label).to.equal(null);
    expect(r.score).to.be.lessThan(0.99).and.greaterThan(0);
  });

  it('detects through letterbox, per-class NMS and clamping, in source coordinates', async () => {
    const model = await load(models.detector.onnxPath);
    // 128x64 into 64x64: scale 0.5, 16 px borders top and bottom (hand-worked boxes in TEST_DETECTOR_ANCHORS)
    const prepared = await model.prepare(await uniformPng(128, 64, [90, 160, 40]));
    expect(prepared).to.deep.include({ scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 16 });
    const r = await model.run(prepared);
    prepared.release();
    const rounded = r.detections.map((d) => ({ ...d, score: Math.round(d.score * 1e6) / 1e6 }));
    expect(rounded).to.deep.equal([
      // [32,32,32,16] → x 16..48 → 32..96 of 128; y 24..40 → 16..48 of 64
      { label: 'Carrots', score: 0.9, box: [0.25, 0.25, 0.75, 0.75] },
      // [34,32,32,16]: overlaps the first but is another class
      { label: 'Tomato', score: 0.7, box: [0.28125, 0.25, 0.78125, 0.75] },
      // [60,40,16,8] → x 52..68 → 104..136 of 128 (clamped to 1); y 36..44 → 40..56 of 64
      { label: 'Carrots', score: 0.6, box: [0.8125, 0.625, 1, 0.875] },
    ]);
    expect(r.label).to.equal('Carrots');
    expect(r.top.map((t) => t.label)).to.deep.equal(['Carrots', 'Tomato']);
  });

  it('refuses a model whose input does not match its manifest, naming the manifest fields', async () => {
    const wrong = { ...models.classifier.manifest, input: { ...models.classifier.manifest.input, width: 32, height: 32 } };
    const { sha256: _ignored, ...rest } = wrong;
    const written = await writeModelFiles(models.dir, 'wrong-size', models.classifier.bytes, rest);
    const err = await rejection(load(written.onnxPath), ModelFileError);
    expect(err.message).to.match(/"input" says 32x32 NCHW but .*wrong-size\.onnx input "input" is \[N,3,64,64\]/);
    expect(err.field).to.equal('input');
  });

  it('refuses a manifest whose labels do not fit the model output, at load rather than per frame', async () => {
    const { sha256: _c, ...classifier } = models.classifier.manifest;
    const c = await writeModelFiles(models.dir, 'five-labels', models.classifier.bytes, { ...classifier, labels: ['a', 'b', 'c', 'd', 'e'] });
    const errC = await rejection(load(c.onnxPath), ModelFileError);
    expect(errC.message).to.match(/5 labels need .*five-labels\.onnx output "logits" to be \[N,5\] but it is \[N,4\]/);
    expect(errC.field).to.equal('labels');
    const { sha256: _d, ...detector } = models.detector.manifest;
    const d = await writeModelFiles(models.dir, 'three-classes', models.detector.bytes, { ...detector, labels: ['a', 'b', 'c'] });
    const errD = await rejection(load(d.onnxPath), ModelFileError);
    expect(errD.message).to.match(/to be \[1,7,anchors\] but it is \[1,6,6\]/);
  });

  it('gives a clear ModelFileError, not a crash, for garbage and truncated .onnx files', async () => {
    const { sha256: _ignored, ...manifest } = models.classifier.manifest;
    const garbage = await writeModelFiles(models.dir, 'garbage', Buffer.from('definitely not a protobuf \x00\xff\xfe'), manifest);
    const truncated = await writeModelFiles(models.dir, 'truncated', models.classifier.bytes.subarray(0, 200), manifest);
    for (const w of [garbage, truncated]) {
      const err = await rejection(load(w.onnxPath, ['auto']), ModelFileError);
      expect(err.message).to.include(w.onnxPath).and.match(/onnxruntime cannot load this file .*re-export it/);
      expect(err.message).to.not.match(/\n/);
    }
  });

  it('refuses a truncated .onnx whose manifest was not updated by its hash alone', async () => {
    const path = join(models.dir, 'cut.onnx');
    await writeFile(path, models.classifier.bytes.subarray(0, 100));
    await writeFile(join(models.dir, 'cut.json'), JSON.stringify(models.classifier.manifest));
    const err = await rejection(load(path), ModelFileError);
    expect(err.message).to.include(sha256Hex(models.classifier.bytes.subarray(0, 100)));
  });

  it('a list with only an unavailable provider fails with the reasons and the fix', async () => {
    const err = await rejection(load(models.classifier.onnxPath, ['cuda']), ExecutionProviderError);
    expect(err.attempts).to.have.length(1);
    expect(err.attempts[0]).to.include({ provider: 'cuda', outcome: 'skipped' });
    expect(err.message).to.match(/no execution provider could run .* add "cpu"/);
  });

  it('skips cuda/tensorrt without their libraries and lands on cpu', async () => {
    const model = await load(models.classifier.onnxPath, ['tensorrt', 'cuda', 'cpu']);
    expect(model.executionProvider).to.equal('cpu');
    expect(model.providerAttempts.map((a) => [a.provider, a.outcome])).to.deep.equal([
      ['tensorrt', 'skipped'], ['cuda', 'skipped'], ['cpu', 'active'],
    ]);
    expect(model.providerAttempts[1]!.reason).to.match(/libonnxruntime_providers_cuda\.so not found/);
  });
});

describe('inference execution providers: planning', () => {
  const backends = [
    { name: 'cpu', bundled: true }, { name: 'webgpu', bundled: true },
    { name: 'cuda', bundled: false }, { name: 'tensorrt', bundled: false },
  ];
  const env = (present: string[], gpu: boolean): ProviderEnvironment => ({
    backends, bindingDir: '/ort', hasGpuRenderNode: () => gpu,
    fileExists: (p) => present.some((lib) => p === `/ort/${lib}`),
  });
  const cudaLibs = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];
  const trtLibs = [...cudaLibs, 'libonnxruntime_providers_tensorrt.so'];

  it('auto orders tensorrt > cuda > webgpu > cpu when everything is present', () => {
    expect(planProviders(['auto'], env(trtLibs, true))).to.deep.equal({ candidates: ['tensorrt', 'cuda', 'webgpu', 'cpu'], skipped: [] });
  });

  it('auto skips a provider whose shared library is missing, saying which file and where', () => {
    const { candidates, skipped } = planProviders(['auto'], env(cudaLibs, true));
    expect(candidates).to.deep.equal(['cuda', 'webgpu', 'cpu']);
    expect(skipped).to.have.length(1);
    expect(skipped[0]!.provider).to.equal('tensorrt');
    expect(skipped[0]!.reason).to.match(/libonnxruntime_providers_tensorrt\.so not found in \/ort/);
  });

  it('auto leaves out webgpu without a GPU render node, but an explicit "webgpu" is still tried', () => {
    const auto = planProviders(['auto'], env([], false));
    expect(auto.candidates).to.deep.equal(['cpu']);
    expect(auto.skipped.find((s) => s.provider === 'webgpu')!.reason).to.match(/no GPU render node/);
    expect(planProviders(['webgpu', 'cpu'], env([], false)).candidates).to.deep.equal(['webgpu', 'cpu']);
  });

  it('keeps the configured order, drops duplicates, expands auto in place and reports unknown names', () => {
    const { candidates, skipped } = planProviders(['cpu', ' WebGPU ', 'gpu', 'auto'], env(cudaLibs, true));
    expect(candidates).to.deep.equal(['cpu', 'webgpu', 'cuda']);
    expect(skipped.map((s) => s.provider)).to.deep.equal(['gpu', 'tensorrt']);
    expect(skipped[0]!.reason).to.match(/unknown execution provider/);
  });

  it('a provider this onnxruntime build does not offer is skipped as such', () => {
    const { skipped } = planProviders(['coreml', 'cpu'], env([], false));
    expect(skipped[0]).to.deep.equal({ provider: 'coreml', outcome: 'skipped', reason: 'unknown execution provider (known: tensorrt, cuda, webgpu, cpu, or auto)' });
    const onlyCpu = planProviders(['webgpu', 'cpu'], { ...env([], true), backends: [{ name: 'cpu', bundled: true }] });
    expect(onlyCpu.skipped[0]!.reason).to.equal('not offered by the installed onnxruntime-node build');
  });

  it('threads: 0 means all cores but one (at least 1), otherwise as given', () => {
    expect(resolveThreads(0)).to.equal(Math.max(1, availableParallelism() - 1));
    expect(resolveThreads(3)).to.equal(3);
    expect(() => resolveThreads(-1)).to.throw(RangeError);
  });

  it('strips onnxruntime source locations from its messages', () => {
    const raw = '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 onnxruntime::webgpu::WebGpuContext::Initialize(...)::<lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n';
    expect(conciseOrtError(new Error(raw))).to.equal('Failed to get a WebGPU adapter: No supported adapters');
  });
});
