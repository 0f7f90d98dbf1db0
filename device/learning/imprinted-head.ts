import type { CosineHead, LabelScore, ModelManifest, Prediction } from '../inference/model.ts';
import { softmax, TOP_K, topK } from '../inference/postprocess.ts';
import { labelKey } from './class-labels.ts';

/** `v` scaled to unit length (a zero vector stays zero). */
export function normalised(v: ArrayLike<number>): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  const out = new Float32Array(v.length);
  if (norm > 0) for (let i = 0; i < v.length; i++) out[i] = v[i]! / norm;
  return out;
}

/** Weight imprinting: a class's row is the normalised mean of its examples' (unit) embeddings. */
export function prototypeOf(embeddings: readonly Float32Array[]): Float32Array {
  const dim = embeddings[0]?.length ?? 0;
  const sum = new Float64Array(dim);
  for (const e of embeddings) for (let i = 0; i < dim; i++) sum[i]! += e[i]!;
  return normalised(sum);
}

/**
 * A model class refined by examples from this kiosk: the model's row and the examples' prototype,
 * weighted equally and renormalised. The trained row keeps what the class looks like in general, the
 * prototype pulls it towards this camera and light; neither alone decides.
 */
export function refinedRow(modelRow: Float32Array, prototype: Float32Array): Float32Array {
  const sum = new Float32Array(modelRow.length);
  for (let i = 0; i < sum.length; i++) sum[i] = modelRow[i]! + prototype[i]!;
  return normalised(sum);
}

/** One learned class as the head needs it. */
export interface LearnedRow {
  label: string;
  prototype: Float32Array;
}

/** A label with its probability and whether it was learned on this kiosk. */
export type Recognition = LabelScore & { learned: boolean };

/**
 * The classifier head the kiosk runs: the model's rows (those with examples refined), then one row
 * per learned class, all scored by the model's rule (scale * cosine) under one softmax, so a learned
 * class competes with the model's classes on equal terms and the score threshold keeps its meaning.
 */
export class ImprintedHead {
  readonly labels: string[];
  /** learned[i]: labels[i] is a class the model does not have. */
  readonly learned: boolean[];
  private readonly weights: Float32Array;
  private readonly dim: number;

  constructor(
    private readonly manifest: Pick<ModelManifest, 'labels' | 'thresholds'>,
    private readonly head: CosineHead,
    rows: readonly LearnedRow[],
  ) {
    const D = (this.dim = head.dim);
    const modelIndex = new Map(manifest.labels.map((l, i) => [labelKey(l), i]));
    const added = rows.filter((r) => !modelIndex.has(labelKey(r.label)));
    this.labels = [...manifest.labels, ...added.map((r) => r.label)];
    this.learned = this.labels.map((_, i) => i >= manifest.labels.length);
    this.weights = new Float32Array(this.labels.length * D);
    this.weights.set(head.weights);
    for (const r of rows) {
      if (r.prototype.length !== D) throw new RangeError(`learned class ${r.label} has a ${r.prototype.length}-long prototype; the model's embedding is ${D}`);
      const k = modelIndex.get(labelKey(r.label));
      if (k !== undefined) this.weights.set(refinedRow(head.weights.subarray(k * D, (k + 1) * D), r.prototype), k * D);
    }
    added.forEach((r, j) => this.weights.set(r.prototype, (manifest.labels.length + j) * D));
  }

  /** Probabilities over `labels` for one embedding. */
  probabilities(embedding: Float32Array): Float64Array {
    const D = this.dim;
    if (embedding.length !== D) throw new RangeError(`embedding has ${embedding.length} values, the head expects ${D}`);
    const logits = new Float64Array(this.labels.length);
    for (let k = 0; k < logits.length; k++) {
      let dot = 0;
      const base = k * D;
      for (let d = 0; d < D; d++) dot += embedding[d]! * this.weights[base + d]!;
      logits[k] = this.head.scale * dot;
    }
    return softmax(logits);
  }

  /** The best `k` labels for one embedding. */
  recognise(embedding: Float32Array, k = TOP_K): Recognition[] {
    const probs = this.probabilities(embedding);
    return topK(probs, Math.min(k, probs.length)).map((i) => ({ label: this.labels[i]!, score: probs[i]!, learned: this.learned[i]! }));
  }

  /** The model's prediction rescored with the learned classes (unchanged when it has no embedding). */
  apply(prediction: Prediction): Prediction {
    if (prediction.kind !== 'classifier' || !prediction.embedding) return prediction;
    const top = this.recognise(prediction.embedding).map(({ label, score, learned }) => (learned ? { label, score, source: 'learned' as const } : { label, score }));
    const best = top[0]!;
    const label = best.score >= this.manifest.thresholds.score ? best.label : null;
    return {
      ...prediction,
      label,
      score: best.score,
      ...(label !== null && best.source ? { source: best.source } : {}),
      top,
    };
  }
}
