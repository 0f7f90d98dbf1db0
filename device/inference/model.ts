import type { RawImage } from '../camera/frame-source.ts';

/** The `<name>.json` manifest beside every `<name>.onnx` (SPEC.md "Model files"). */
export interface ModelManifest {
  name: string;
  version: string;
  kind: 'classifier' | 'detector';
  labels: string[];
  input: {
    width: number;
    height: number;
    layout: 'NCHW' | 'NHWC';
    color: 'RGB' | 'BGR';
    /** Per channel, in the model's channel order (a BGR model lists blue first); pixels are x/255 first. */
    mean: [number, number, number];
    std: [number, number, number];
    resize: 'stretch' | 'letterbox' | 'center-crop';
  };
  output: { format: 'logits' | 'softmax' | 'yolov8' };
  thresholds: { score: number; iou: number };
  /** A classifier's cosine head, when it has one: what learning new classes on the device builds on. */
  head?: CosineHeadSpec;
  sha256: string;
}

/**
 * Manifest `head`: the model's logits are `scale * embedding @ classWeights^T`, embedding and rows both
 * L2-normalised, so a class learned on site is one more normalised row scored by the same rule.
 */
export interface CosineHeadSpec {
  kind: 'cosine';
  /** The logits' scale, already divided by the calibration temperature: logits = scale * cosine. */
  scale: number;
  /** Output names of the embedding [N, D] and of the constant class weights [labels, D]. */
  embedding: string;
  classWeights: string;
  /** The temperature the scale was calibrated with (informative; already inside `scale`). */
  temperature: number;
}

/** A cosine head as loaded: the manifest's rule plus the class weights read from the model once. */
export interface CosineHead {
  scale: number;
  /** Embedding length D. */
  dim: number;
  /** [labels, D] row-major, one unit row per manifest label, in label order. */
  weights: Float32Array;
}

/** An image to classify: encoded bytes (JPEG/PNG/WebP) or raw pixels. */
export type ImageInput = Buffer | RawImage;

export interface LabelScore {
  label: string;
  score: number;
  /** "learned" for a class taught on this kiosk; absent for the model's own classes. */
  source?: 'learned';
}

export interface Detection {
  label: string;
  score: number;
  /** [x1, y1, x2, y2], normalised 0..1 to the original image. */
  box: [number, number, number, number];
  /**
   * In a cascade: what the detector said of this box, while `label`/`score` are the classifier's
   * answer for its crop. Absent when a detector runs alone.
   */
  detector?: { label: string; score: number };
  /** "learned" when `label` is a class taught on this kiosk (cascade crops go through learning too). */
  source?: 'learned';
}

export interface Prediction {
  /** cascade: a detector found the items and a classifier named each crop (device/inference/cascade-model.ts). */
  kind: 'classifier' | 'detector' | 'cascade';
  /** Best label, or null when its score is under the manifest's threshold. */
  label: string | null;
  score: number;
  /** "learned" when `label` is a class taught on this kiosk. */
  source?: 'learned';
  top: LabelScore[];
  detections: Detection[];
  /**
   * A classifier's L2-normalised embedding, when the model outputs one. For learning on the device
   * only: in memory, never stored, sent over the WebSocket or published (see withoutEmbedding).
   */
  embedding?: Float32Array;
}

/** Where the model's input came from: what postprocessing needs to map boxes back to the image. */
export interface BoxGeometry {
  /** Original image size, before resizing (after EXIF auto-orientation). */
  sourceWidth: number;
  sourceHeight: number;
  /**
   * Geometry of the resize, so boxes in model-input pixels map back to the source image:
   * sourceX = (modelX - padX) / scaleX, sourceY = (modelY - padY) / scaleY.
   * stretch: independent scales, no pad; letterbox: one scale, positive pad (the borders);
   * center-crop: one scale, negative pad (the cropped-off margin).
   */
  scaleX: number;
  scaleY: number;
  padX: number;
  padY: number;
}

/** A preprocessed tensor plus the geometry that maps its pixels back to the original image. */
export interface PreparedInput extends BoxGeometry {
  data: Float32Array;
  /** Returns the buffer to the preprocessor's pool; call once inference has consumed it. */
  release(): void;
}

export interface Model {
  readonly manifest: ModelManifest;
  /** The execution provider the session actually runs on (cpu, webgpu, cuda, tensorrt). */
  readonly executionProvider: string;
  /** The classifier's cosine head, or null when the model has none (then it cannot learn classes). */
  readonly head?: CosineHead | null;
  /** Decode + resize + normalise into a pooled tensor buffer. */
  prepare(image: ImageInput): Promise<PreparedInput>;
  /** session.run + postprocessing. Does not release the input. */
  run(input: PreparedInput): Promise<Prediction>;
  /**
   * Several inputs of this model in one session.run (a cascade's crops), one prediction each, in
   * order. Only where the model's batch dimension is free (classifiers); does not release the inputs.
   */
  runBatch?(inputs: readonly PreparedInput[]): Promise<Prediction[]>;
  close(): Promise<void>;
}

/**
 * Turns a model's prediction into the one the kiosk reports (classes learned on the device). Runs on
 * every result, so it must be synchronous and cheap.
 */
export interface PredictionExtension {
  extend(prediction: Prediction): Prediction;
}

/** What leaves the process (stored results, WebSocket, MQTT): everything but the in-memory embedding. */
export function withoutEmbedding<T extends Prediction>(prediction: T): Omit<T, 'embedding'> {
  const { embedding: _embedding, ...rest } = prediction;
  return rest;
}
