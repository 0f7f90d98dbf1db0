import { EventEmitter } from 'node:events';
import type { Frame, FrameSource, FrameSourceEvents, SourceHealth } from '../camera/frame-source.ts';
import type { Model } from '../inference/model.ts';
import { round2 } from './latency-window.ts';
import { DEFAULT_PREPARE_AHEAD, Pipeline } from './pipeline.ts';
import { ResultBus } from './result-bus.ts';

/**
 * A source that always has a fresh frame: each latest() hands out the next JPEG of a loop with a new
 * sequence number and capture time. It stands for a camera faster than the pipeline, so the figure
 * measured is the pipeline's own ceiling.
 */
export class FrameLoopSource extends EventEmitter<FrameSourceEvents> implements FrameSource {
  readonly kind = 'bench';
  readonly source = 'bench:memory';
  private seq = 0;

  constructor(private readonly jpegs: Buffer[]) {
    super();
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  latest(): Frame {
    const jpeg = this.jpegs[this.seq % this.jpegs.length];
    this.seq++;
    return { seq: this.seq, capturedAt: Date.now(), jpeg };
  }

  health(): SourceHealth {
    return { source: this.source, kind: this.kind, state: 'running', framesDelivered: this.seq, lastFrameAt: null, restarts: 0, lastError: null };
  }
}

export interface BenchResult {
  frames: number;
  frameWidth: number;
  frameHeight: number;
  ep: string;
  threads: number;
  prepareAhead: number;
  /** session.run alone on an already prepared tensor. */
  bareFps: number;
  /** JPEG decode + resize + tensor fill alone. */
  preprocessFps: number;
  /** One frame at a time through every stage. */
  serialFps: number;
  /** The real Pipeline, with its overlap. */
  pipelineFps: number;
  /** pipelineFps / min(bareFps, preprocessFps): how close the pipeline comes to its slowest stage. */
  ratio: number;
  /** Frame-to-result latency through the real pipeline. */
  p50Ms: number;
  p99Ms: number;
  /** Mean per-frame cost of each stage alone. */
  inferenceMs: number;
  preprocessMs: number;
  rssMb: number;
}

async function timed(count: number, step: (i: number) => Promise<void>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < count; i++) await step(i);
  return performance.now() - started;
}

function percentile(values: number[], q: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

export interface BenchOptions {
  model: Model;
  jpegs: Buffer[];
  frameWidth: number;
  frameHeight: number;
  frames: number;
  threads: number;
  warmup?: number;
  /** Rounds the frames are split into (default 5, at least 10 frames a round). */
  rounds?: number;
  /** The pipeline's frames in preprocessing while one is in inference (default: the service's). */
  prepareAhead?: number;
}

/**
 * Measures each stage alone and the whole pipeline, side by side in one process and one run. The
 * frames are split into rounds and every round measures all four in turn, so a load that comes and
 * goes on a shared machine weighs on every figure alike and the ratios between them hold.
 */
export async function runBenchmark(options: BenchOptions): Promise<BenchResult> {
  const { model, jpegs, frames } = options;
  const warmup = options.warmup ?? Math.min(10, frames);
  const rounds = Math.max(1, Math.min(options.rounds ?? 5, Math.floor(frames / 10)));
  const prepareAhead = options.prepareAhead ?? DEFAULT_PREPARE_AHEAD;

  for (let i = 0; i < warmup; i++) {
    const input = await model.prepare(jpegs[i % jpegs.length]);
    await model.run(input);
    input.release();
  }

  let bareMs = 0;
  let preprocessMs = 0;
  let serialMs = 0;
  let pipelineMs = 0;
  const latencies: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const n = Math.floor(frames / rounds) + (round < frames % rounds ? 1 : 0);
    const prepared = await model.prepare(jpegs[round % jpegs.length]);
    bareMs += await timed(n, async () => {
      await model.run(prepared);
    });
    prepared.release();

    preprocessMs += await timed(n, async (i) => {
      (await model.prepare(jpegs[i % jpegs.length])).release();
    });

    serialMs += await timed(n, async (i) => {
      const input = await model.prepare(jpegs[i % jpegs.length]);
      await model.run(input);
      input.release();
    });

    const pipelineRun = await measurePipeline(model, jpegs, n, prepareAhead);
    pipelineMs += pipelineRun.ms;
    latencies.push(...pipelineRun.latencies);
  }

  const bareFps = (frames * 1000) / bareMs;
  const preprocessFps = (frames * 1000) / preprocessMs;
  const pipelineFps = (frames * 1000) / pipelineMs;
  return {
    frames,
    frameWidth: options.frameWidth,
    frameHeight: options.frameHeight,
    ep: model.executionProvider,
    threads: options.threads,
    prepareAhead,
    bareFps: round2(bareFps),
    preprocessFps: round2(preprocessFps),
    serialFps: round2((frames * 1000) / serialMs),
    pipelineFps: round2(pipelineFps),
    ratio: round2(pipelineFps / Math.min(bareFps, preprocessFps)),
    p50Ms: round2(percentile(latencies, 0.5)),
    p99Ms: round2(percentile(latencies, 0.99)),
    inferenceMs: round2(bareMs / frames),
    preprocessMs: round2(preprocessMs / frames),
    rssMb: round2(process.memoryUsage().rss / (1024 * 1024)),
  };
}

/** Time for `frames` results after the first one, and their frame-to-result latencies. */
async function measurePipeline(model: Model, jpegs: Buffer[], frames: number, prepareAhead: number): Promise<{ ms: number; latencies: number[] }> {
  const bus = new ResultBus();
  const pipeline = new Pipeline({ source: new FrameLoopSource(jpegs), model, bus, prepareAhead });
  const latencies: number[] = [];
  let firstAt = 0;
  let lastAt = 0;
  // The first result carries the pipeline's fill time (nothing to overlap with yet); rate is taken
  // from the first result to the last, like a camera that has been running for a while.
  const done = new Promise<void>((resolve) => {
    bus.on('result', (r) => {
      const now = performance.now();
      if (latencies.length === 0) firstAt = now;
      latencies.push(r.latencyMs.total);
      lastAt = now;
      if (latencies.length === frames + 1) resolve();
    });
  });
  pipeline.start();
  await done;
  await pipeline.stop();
  return { ms: lastAt - firstAt, latencies: latencies.slice(1) };
}
