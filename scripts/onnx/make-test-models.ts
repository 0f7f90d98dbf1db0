/**
 * Writes the small ONNX models the inference tests and `vegkiosk bench` use until the trained model
 * exists, each with a valid manifest (SHA-256 included).
 *
 *   npx tsx scripts/onnx/make-test-models.ts <dir>                 test classifier + detector
 *   npx tsx scripts/onnx/make-test-models.ts <dir> --bench [--size 224]   benchmark classifier
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModelManifest } from '../../device/inference/model.ts';
import { encodeModel, type NodeSpec, type ValueSpec } from '../../device/inference/onnx-writer.ts';

export interface WrittenModel {
  onnxPath: string;
  manifestPath: string;
  manifest: ModelManifest;
  bytes: Uint8Array;
}

/** The Grocery Store Dataset's coarse vegetable classes (SPEC.md "Model files"). */
export const VEGETABLE_LABELS = [
  'Asparagus', 'Aubergine', 'Cabbage', 'Carrots', 'Cucumber', 'Garlic', 'Ginger', 'Leek', 'Mushroom',
  'Onion', 'Pepper', 'Potato', 'Red-Beet', 'Tomato', 'Zucchini',
];

/** Writes `<dir>/<name>.onnx` and `<dir>/<name>.json` with the manifest's sha256 filled in. */
export async function writeModelFiles(
  dir: string,
  name: string,
  bytes: Uint8Array,
  manifest: Omit<ModelManifest, 'sha256'>,
): Promise<WrittenModel> {
  await mkdir(dir, { recursive: true });
  const onnxPath = join(dir, `${name}.onnx`);
  const manifestPath = join(dir, `${name}.json`);
  const full: ModelManifest = { ...manifest, sha256: createHash('sha256').update(bytes).digest('hex') };
  await writeFile(onnxPath, bytes);
  await writeFile(manifestPath, JSON.stringify(full, null, 2) + '\n');
  return { onnxPath, manifestPath, manifest: full, bytes };
}

/**
 * Weights of the test classifier's Gemm, [3][K]: each class responds to a different mix of the mean
 * R, G, B values, so a uniformly coloured image has a logit vector the tests can compute by hand.
 */
export function testClassifierWeights(classes: number): { weights: number[][]; bias: number[] } {
  const weights = [0, 1, 2].map((c) =>
    Array.from({ length: classes }, (_, k) => (k % 3 === c ? 2 : -1) + k * 0.125 * (c - 1)));
  const bias = Array.from({ length: classes }, (_, k) => k * 0.01);
  return { weights, bias };
}

export interface TestClassifierOptions {
  name?: string;
  /** Square input side in pixels. */
  size?: number;
  labels?: string[];
  layout?: 'NCHW' | 'NHWC';
  color?: 'RGB' | 'BGR';
  format?: 'logits' | 'softmax';
  resize?: ModelManifest['input']['resize'];
  mean?: [number, number, number];
  std?: [number, number, number];
  scoreThreshold?: number;
}

/**
 * input → GlobalAveragePool → Flatten (`embedding`, [N,3]: the normalised mean colour) → Gemm →
 * `logits` (or Softmax → `probabilities`). Outputs are listed embedding-first so the loader has to
 * pick the classifier output by name, not position.
 */
export async function writeTestClassifier(dir: string, opts: TestClassifierOptions = {}): Promise<WrittenModel> {
  const name = opts.name ?? 'test-classifier';
  const size = opts.size ?? 64;
  const labels = opts.labels ?? ['Carrots', 'Tomato', 'Potato', 'Cucumber'];
  const layout = opts.layout ?? 'NCHW';
  const format = opts.format ?? 'logits';
  const { weights, bias } = testClassifierWeights(labels.length);
  const K = labels.length;

  const nodes: NodeSpec[] = [];
  let x = 'input';
  if (layout === 'NHWC') {
    nodes.push({ op: 'Transpose', inputs: [x], outputs: ['nchw'], attributes: { perm: { ints: [0, 3, 1, 2] } } });
    x = 'nchw';
  }
  nodes.push({ op: 'GlobalAveragePool', inputs: [x], outputs: ['pooled'] });
  nodes.push({ op: 'Flatten', inputs: ['pooled'], outputs: ['embedding'], attributes: { axis: { int: 1 } } });
  const scoresName = format === 'logits' ? 'logits' : 'probabilities';
  if (format === 'logits') {
    nodes.push({ op: 'Gemm', inputs: ['embedding', 'W', 'b'], outputs: ['logits'] });
  } else {
    nodes.push({ op: 'Gemm', inputs: ['embedding', 'W', 'b'], outputs: ['raw_logits'] });
    nodes.push({ op: 'Softmax', inputs: ['raw_logits'], outputs: ['probabilities'], attributes: { axis: { int: 1 } } });
  }
  const inputShape: ValueSpec['shape'] = layout === 'NCHW' ? ['N', 3, size, size] : ['N', size, size, 3];
  const bytes = encodeModel({
    graph: {
      name,
      nodes,
      inputs: [{ name: 'input', shape: inputShape }],
      outputs: [{ name: 'embedding', shape: ['N', 3] }, { name: scoresName, shape: ['N', K] }],
      initializers: [
        { name: 'W', dims: [3, K], data: weights.flat() },
        { name: 'b', dims: [K], data: bias },
      ],
    },
  });
  return writeModelFiles(dir, name, bytes, {
    name,
    version: '0.0.1-test',
    kind: 'classifier',
    labels,
    input: {
      width: size,
      height: size,
      layout,
      color: opts.color ?? 'RGB',
      mean: opts.mean ?? [0.485, 0.456, 0.406],
      std: opts.std ?? [0.229, 0.224, 0.225],
      resize: opts.resize ?? 'center-crop',
    },
    output: { format },
    thresholds: { score: opts.scoreThreshold ?? 0.3, iou: 0.45 },
  });
}

/**
 * The test detector's fixed output, one row per anchor: [cx, cy, w, h, score per class], in
 * model-input pixels of a 64x64 input. Chosen so NMS, per-class NMS, thresholding and clamping each
 * have a case (see test/inference-model.test.ts).
 */
export const TEST_DETECTOR_ANCHORS: number[][] = [
  [32, 32, 32, 16, 0.9, 0.05], // Carrots, kept
  [33, 32, 32, 16, 0.8, 0.1], // Carrots, overlaps the first (IoU ~0.94): suppressed
  [34, 32, 32, 16, 0.1, 0.7], // Tomato over the same place: kept, NMS is per class
  [10, 20, 8, 8, 0.2, 0.3], // under the score threshold
  [60, 40, 16, 8, 0.6, 0.0], // Carrots hanging off the right edge: clamped
  [0, 0, 0, 0, 0, 0], // nothing
];

export interface TestDetectorOptions {
  name?: string;
  size?: number;
  labels?: string[];
  /** Rows of [cx, cy, w, h, ...scores]; default TEST_DETECTOR_ANCHORS. */
  anchors?: number[][];
  scoreThreshold?: number;
  iouThreshold?: number;
}

/**
 * `images` [1,3,S,S] → ReduceMean → × 0 → + constant → `output0` [1, 4+C, A]. The output depends on
 * the input (so no runtime can fold the graph away) yet equals the constant exactly.
 */
export async function writeTestDetector(dir: string, opts: TestDetectorOptions = {}): Promise<WrittenModel> {
  const name = opts.name ?? 'test-detector';
  const size = opts.size ?? 64;
  const labels = opts.labels ?? ['Carrots', 'Tomato'];
  const anchors = opts.anchors ?? TEST_DETECTOR_ANCHORS;
  const rows = 4 + labels.length;
  const A = anchors.length;
  const constant = new Float32Array(rows * A);
  anchors.forEach((anchor, a) => {
    if (anchor.length !== rows) throw new Error(`anchor ${a} has ${anchor.length} values, expected ${rows}`);
    anchor.forEach((v, r) => { constant[r * A + a] = v; });
  });
  const bytes = encodeModel({
    graph: {
      name,
      nodes: [
        { op: 'ReduceMean', inputs: ['images'], outputs: ['mean'], attributes: { keepdims: { int: 0 } } },
        { op: 'Mul', inputs: ['mean', 'zero'], outputs: ['zeroed'] },
        { op: 'Add', inputs: ['zeroed', 'fixed'], outputs: ['output0'] },
      ],
      inputs: [{ name: 'images', shape: [1, 3, size, size] }],
      outputs: [{ name: 'output0', shape: [1, rows, A] }],
      initializers: [
        { name: 'zero', dims: [], data: [0] },
        { name: 'fixed', dims: [1, rows, A], data: constant },
      ],
    },
  });
  return writeModelFiles(dir, name, bytes, {
    name,
    version: '0.0.1-test',
    kind: 'detector',
    labels,
    input: { width: size, height: size, layout: 'NCHW', color: 'RGB', mean: [0, 0, 0], std: [1, 1, 1], resize: 'letterbox' },
    output: { format: 'yolov8' },
    thresholds: { score: opts.scoreThreshold ?? 0.5, iou: opts.iouThreshold ?? 0.45 },
  });
}

/** Deterministic PRNG (mulberry32) so the benchmark model is byte-identical on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BenchClassifierOptions {
  name?: string;
  /** Square input side; default 224 like the trained model will use. */
  size?: number;
  /** Output channels of each stride-2 3x3 Conv+Relu stage; more or wider stages cost more. */
  channels?: number[];
  labels?: string[];
}

/**
 * A classifier with real convolution cost (default ≈ 50 MMAC at 224x224, the order of a small
 * mobile network), random but fixed weights, and the production manifest shape: 15 vegetable
 * labels, center-crop, ImageNet normalisation, `logits` plus `embedding`.
 */
export async function writeBenchClassifier(dir: string, opts: BenchClassifierOptions = {}): Promise<WrittenModel> {
  const name = opts.name ?? 'bench-classifier';
  const size = opts.size ?? 224;
  const channels = opts.channels ?? [16, 32, 64, 128];
  const labels = opts.labels ?? VEGETABLE_LABELS;
  const rand = prng(0x5eed);
  const uniform = (n: number, limit: number) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * limit);

  const nodes: NodeSpec[] = [];
  const initializers: { name: string; dims: number[]; data: Float32Array }[] = [];
  let x = 'input';
  let cin = 3;
  channels.forEach((cout, i) => {
    // He-uniform keeps activations in a sane range through the ReLUs.
    const limit = Math.sqrt(6 / (cin * 9));
    initializers.push({ name: `conv${i}.w`, dims: [cout, cin, 3, 3], data: uniform(cout * cin * 9, limit) });
    initializers.push({ name: `conv${i}.b`, dims: [cout], data: uniform(cout, 0.01) });
    nodes.push({
      op: 'Conv', inputs: [x, `conv${i}.w`, `conv${i}.b`], outputs: [`conv${i}`],
      attributes: { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } },
    });
    nodes.push({ op: 'Relu', inputs: [`conv${i}`], outputs: [`relu${i}`] });
    x = `relu${i}`;
    cin = cout;
  });
  nodes.push({ op: 'GlobalAveragePool', inputs: [x], outputs: ['pooled'] });
  nodes.push({ op: 'Flatten', inputs: ['pooled'], outputs: ['embedding'], attributes: { axis: { int: 1 } } });
  nodes.push({ op: 'Gemm', inputs: ['embedding', 'fc.w', 'fc.b'], outputs: ['logits'] });
  initializers.push({ name: 'fc.w', dims: [cin, labels.length], data: uniform(cin * labels.length, Math.sqrt(6 / cin)) });
  initializers.push({ name: 'fc.b', dims: [labels.length], data: new Float32Array(labels.length) });

  const bytes = encodeModel({
    graph: {
      name,
      nodes,
      inputs: [{ name: 'input', shape: ['N', 3, size, size] }],
      outputs: [{ name: 'logits', shape: ['N', labels.length] }, { name: 'embedding', shape: ['N', cin] }],
      initializers,
    },
    docString: 'vegkiosk benchmark stand-in: random weights, predictions are meaningless',
  });
  return writeModelFiles(dir, name, bytes, {
    name,
    version: '0.0.1-bench',
    kind: 'classifier',
    labels,
    input: {
      width: size, height: size, layout: 'NCHW', color: 'RGB',
      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'center-crop',
    },
    output: { format: 'logits' },
    thresholds: { score: 0.5, iou: 0.45 },
  });
}

async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  const bench = args.includes('--bench');
  const sizeAt = args.indexOf('--size');
  const size = sizeAt >= 0 ? Number(args[sizeAt + 1]) : undefined;
  const dir = args.find((a, i) => !a.startsWith('--') && !(sizeAt >= 0 && i === sizeAt + 1));
  if (!dir || (size !== undefined && !(Number.isInteger(size) && size >= 16))) {
    process.stderr.write('usage: make-test-models.ts <dir> [--bench [--size N>=16]]\n');
    process.exit(2);
  }
  const written = bench
    ? [await writeBenchClassifier(resolve(dir), { size })]
    : [await writeTestClassifier(resolve(dir)), await writeTestDetector(resolve(dir))];
  for (const w of written) process.stdout.write(`${w.onnxPath}\n${w.manifestPath}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`make-test-models: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
