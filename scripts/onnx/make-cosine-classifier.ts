/**
 * A small classifier with a cosine head, shaped like vegetables-v2 (outputs `logits`, `embedding`,
 * `class_weights`; manifest `head`), for the tests of learning on the device. Its embedding is the
 * normalised mean colour, so photos of different colours are different "products".
 *
 *   npx tsx scripts/onnx/make-cosine-classifier.ts <dir>
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { encodeModel } from '../../device/inference/onnx-writer.ts';
import { writeModelFiles, type WrittenModel } from './make-test-models.ts';

/** Each class's colour, in the model's normalised input space ((x/255 - 0.5) / 0.5 per channel). */
export const COSINE_TEST_CLASSES: Record<string, [number, number, number]> = {
  Carrots: [1, 0.1, -1],
  Tomato: [1, -1, -0.8],
  Potato: [0.3, 0, -0.6],
  Cucumber: [-1, 1, -1],
};
export const COSINE_TEST_SCALE = 10;

function unit(v: number[]): number[] {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

export async function writeCosineClassifier(dir: string, opts: { name?: string; size?: number; scoreThreshold?: number } = {}): Promise<WrittenModel> {
  const name = opts.name ?? 'cosine-classifier';
  const size = opts.size ?? 64;
  const labels = Object.keys(COSINE_TEST_CLASSES);
  const rows = labels.map((l) => unit(COSINE_TEST_CLASSES[l]!));
  const bytes = encodeModel({
    graph: {
      name,
      nodes: [
        { op: 'GlobalAveragePool', inputs: ['input'], outputs: ['pooled'] },
        { op: 'Flatten', inputs: ['pooled'], outputs: ['mean_colour'], attributes: { axis: { int: 1 } } },
        { op: 'LpNormalization', inputs: ['mean_colour'], outputs: ['embedding'], attributes: { axis: { int: 1 }, p: { int: 2 } } },
        { op: 'Gemm', inputs: ['embedding', 'W'], outputs: ['logits'], attributes: { alpha: { float: COSINE_TEST_SCALE }, transB: { int: 1 } } },
        { op: 'Identity', inputs: ['W'], outputs: ['class_weights'] },
      ],
      inputs: [{ name: 'input', shape: ['N', 3, size, size] }],
      outputs: [
        { name: 'logits', shape: ['N', labels.length] },
        { name: 'embedding', shape: ['N', 3] },
        { name: 'class_weights', shape: [labels.length, 3] },
      ],
      initializers: [{ name: 'W', dims: [labels.length, 3], data: rows.flat() }],
    },
  });
  const manifest = {
    name,
    version: '0.0.1-test',
    kind: 'classifier' as const,
    labels,
    input: { width: size, height: size, layout: 'NCHW' as const, color: 'RGB' as const, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.5, 0.5, 0.5] as [number, number, number], resize: 'center-crop' as const },
    output: { format: 'logits' as const },
    thresholds: { score: opts.scoreThreshold ?? 0.5, iou: 0.45 },
    head: { kind: 'cosine' as const, scale: COSINE_TEST_SCALE, embedding: 'embedding', classWeights: 'class_weights', temperature: 1 },
  };
  return writeModelFiles(dir, name, bytes, manifest);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: make-cosine-classifier.ts <dir>');
  const written = await writeCosineClassifier(resolve(dir));
  process.stdout.write(`${written.onnxPath}\n`);
}
