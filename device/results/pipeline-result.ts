import type { Prediction } from '../inference/model.ts';

/**
 * One pipeline result, shaped as the WebSocket `result` message minus its `type`. It sits below the
 * pipeline that makes it and everything that keeps or sends it (results store, WebSocket, metrics,
 * the fleet publisher), so none of those has to reach up into the pipeline for the type.
 */
export interface PipelineResult extends Prediction {
  seq: number;
  capturedAt: number;
  latencyMs: { preprocess: number; inference: number; total: number };
  /** The JPEG the result was computed from, when the source delivered one (for /api/frames/latest.jpg). */
  jpeg?: Buffer;
  /** The scene had not changed: the last inferred result published again for this frame (rest). */
  reused?: true;
}
