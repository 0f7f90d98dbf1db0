import type { BoxGeometry, Detection, LabelScore, ModelManifest, Prediction } from './model.ts';

/** What postprocessing reads from a manifest. */
export type OutputSpec = Pick<ModelManifest, 'labels' | 'output' | 'thresholds'>;

export type { BoxGeometry };

export const TOP_K = 5;

/** A model output that does not fit its manifest; names the manifest field to fix. */
export class OutputShapeError extends Error {
  override readonly name = 'OutputShapeError';
}

/** Numerically stable softmax (subtracts the max so large logits cannot overflow to Infinity). */
export function softmax(values: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  const out = new Float64Array(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    out[i] = Math.exp(values[i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

/** Indices of the k largest values, largest first; ties keep the lower index first. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((a, b) => values[b]! - values[a]! || a - b);
  return idx.slice(0, k);
}

/** Classifier output ([1,K] or [K]) → probabilities, top-k and the thresholded best label. */
export function classify(output: ArrayLike<number>, spec: OutputSpec, k = TOP_K): Prediction {
  const K = spec.labels.length;
  if (output.length !== K) {
    throw new OutputShapeError(`classifier output has ${output.length} values but the manifest lists ${K} labels; fix "labels" or re-export the model`);
  }
  const probs = spec.output.format === 'logits' ? softmax(output) : Float64Array.from(output as ArrayLike<number>);
  const top: LabelScore[] = topK(probs, Math.min(k, K)).map((i) => ({ label: spec.labels[i]!, score: probs[i]! }));
  const best = top[0]!;
  return {
    kind: 'classifier',
    label: best.score >= spec.thresholds.score ? best.label : null,
    score: best.score,
    top,
    detections: [],
  };
}

/** A box in model-input pixels, [x1, y1, x2, y2]. */
export type Box = [number, number, number, number];

export function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

export interface Candidate {
  box: Box;
  score: number;
  classIndex: number;
}

/** Greedy NMS within each class: a box is dropped when it overlaps a better box of its class by more than `threshold`. */
export function nmsPerClass(candidates: Candidate[], threshold: number): Candidate[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const kept: Candidate[] = [];
  for (const c of sorted) {
    if (!kept.some((k) => k.classIndex === c.classIndex && iou(k.box, c.box) > threshold)) kept.push(c);
  }
  return kept;
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Model-input pixels → 0..1 of the original image, clamped (boxes may extend past the picture). */
export function toSourceBox(box: Box, g: BoxGeometry): Box {
  return [
    clamp01((box[0] - g.padX) / g.scaleX / g.sourceWidth),
    clamp01((box[1] - g.padY) / g.scaleY / g.sourceHeight),
    clamp01((box[2] - g.padX) / g.scaleX / g.sourceWidth),
    clamp01((box[3] - g.padY) / g.scaleY / g.sourceHeight),
  ];
}

export interface DecodeOptions {
  /** Cap after NMS, best first. */
  maxDetections?: number;
}

/**
 * YOLOv8 head output [1, 4 + C, A] (cx, cy, w, h in model-input pixels, then C class scores per
 * anchor) → thresholded, per-class NMS'd detections in normalised source coordinates. Each anchor
 * votes for its best class only, as Ultralytics does by default.
 */
export function decodeYolov8(output: ArrayLike<number>, dims: readonly number[], spec: OutputSpec, g: BoxGeometry, opts: DecodeOptions = {}): Prediction {
  const C = spec.labels.length;
  if (dims.length !== 3 || dims[0] !== 1 || dims[1] !== 4 + C) {
    throw new OutputShapeError(
      `yolov8 output has shape [${dims.join(',')}] but the manifest lists ${C} labels, so [1,${4 + C},anchors] is expected; ` +
      'fix "labels" or "output.format" in the manifest, or re-export the model');
  }
  const A = dims[2]!;
  const candidates: Candidate[] = [];
  for (let a = 0; a < A; a++) {
    let best = -Infinity;
    let classIndex = -1;
    for (let c = 0; c < C; c++) {
      const s = output[(4 + c) * A + a]!;
      if (s > best) { best = s; classIndex = c; }
    }
    if (!(best >= spec.thresholds.score)) continue;
    const cx = output[a]!, cy = output[A + a]!, w = output[2 * A + a]!, h = output[3 * A + a]!;
    candidates.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score: best, classIndex });
  }
  const kept = nmsPerClass(candidates, spec.thresholds.iou).slice(0, opts.maxDetections ?? 100);
  const detections: Detection[] = kept.map((c) => ({ label: spec.labels[c.classIndex]!, score: c.score, box: toSourceBox(c.box, g) }));

  // top: each label's best detection, so detectors and classifiers fill the same result fields.
  const bestPerLabel = new Map<string, number>();
  for (const d of detections) if (!bestPerLabel.has(d.label)) bestPerLabel.set(d.label, d.score);
  const top = [...bestPerLabel].slice(0, TOP_K).map(([label, score]) => ({ label, score }));
  return {
    kind: 'detector',
    label: detections[0]?.label ?? null,
    score: detections[0]?.score ?? 0,
    top,
    detections,
  };
}
