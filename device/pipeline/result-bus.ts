import { EventEmitter } from 'node:events';
import type { Prediction } from '../inference/model.ts';

/** One pipeline result, shaped as the WebSocket `result` message minus its `type`. */
export interface PipelineResult extends Prediction {
  seq: number;
  capturedAt: number;
  latencyMs: { preprocess: number; inference: number; total: number };
  /** The JPEG the result was computed from, when the source delivered one (for /api/frames/latest.jpg). */
  jpeg?: Buffer;
}

interface ResultBusEvents {
  result: [PipelineResult];
}

/** In-process fan-out from the pipeline to the server, storage and the watchdog. */
export class ResultBus extends EventEmitter<ResultBusEvents> {
  private last: PipelineResult | null = null;

  publish(result: PipelineResult): void {
    this.last = result;
    this.emit('result', result);
  }

  latest(): PipelineResult | null {
    return this.last;
  }
}
