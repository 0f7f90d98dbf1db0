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
  sha256: string;
}

/** An image to classify: encoded bytes (JPEG/PNG/WebP) or raw pixels. */
export type ImageInput = Buffer | RawImage;

export interface LabelScore {
  label: string;
  score: number;
}

export interface Detection {
  label: string;
  score: number;
  /** [x1, y1, x2, y2], normalised 0..1 to the original image. */
  box: [number, number, number, number];
}

export interface Prediction {
  kind: 'classifier' | 'detector';
  /** Best label, or null when its score is under the manifest's threshold. */
  label: string | null;
  score: number;
  top: LabelScore[];
  detections: Detection[];
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
  /** Decode + resize + normalise into a pooled tensor buffer. */
  prepare(image: ImageInput): Promise<PreparedInput>;
  /** session.run + postprocessing. Does not release the input. */
  run(input: PreparedInput): Promise<Prediction>;
  close(): Promise<void>;
}
