import type { Logger } from '../logger.ts';
import type { PipelineResult } from '../results/pipeline-result.ts';
import { expectArray, expectRecord, VersionedStore, type StoreSpec } from './versioned-store.ts';

/** A pipeline result as kept on disk and served by /api/results: no JPEG bytes, no embedding. */
export type StoredResult = Omit<PipelineResult, 'jpeg' | 'embedding'>;

export interface ResultsData {
  results: StoredResult[];
}

export const RESULTS_MAX = 200;
/** Flush interval: results arrive at camera rate, but an SD card must not be rewritten every frame. */
export const RESULTS_FLUSH_MS = 60_000;

export const RESULTS_SPEC: StoreSpec<ResultsData> = {
  file: 'results.json',
  format: 'vegkiosk.results',
  version: 1,
  migrations: {},
  empty: () => ({ results: [] }),
  check(data: unknown): asserts data is ResultsData {
    for (const r of expectArray(expectRecord(data, 'results file').results, 'results')) {
      if (typeof expectRecord(r, 'result').seq !== 'number') throw new Error('result without seq');
    }
  },
};

/** Recent results: kept in memory at full rate, written to disk at most once a minute and on close. */
export class ResultsStore {
  private readonly store: VersionedStore<ResultsData>;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(dataDir: string, private readonly logger?: Logger, private readonly max = RESULTS_MAX) {
    this.store = new VersionedStore(dataDir, RESULTS_SPEC, logger).load();
  }

  add(result: PipelineResult): void {
    const { jpeg: _jpeg, embedding: _embedding, ...stored } = result;
    const list = this.store.data.results;
    list.push(stored);
    if (list.length > this.max) list.splice(0, list.length - this.max);
    this.dirty = true;
  }

  /** Newest first. */
  recent(limit: number): StoredResult[] {
    return this.store.data.results.slice(-limit).reverse();
  }

  startFlushing(intervalMs = RESULTS_FLUSH_MS): void {
    this.timer ??= setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  flush(): void {
    if (!this.dirty) return;
    try {
      this.store.save();
      this.dirty = false;
    } catch (err) {
      this.logger?.error({ err: (err as Error).message }, 'could not save recent results');
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }
}
