import { EventEmitter } from 'node:events';
import type { PipelineResult } from '../results/pipeline-result.ts';

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
