import type { Frame, FrameSource } from '../camera/frame-source.ts';
import type { Model, PreparedInput } from '../inference/model.ts';
import type { Logger } from '../logger.ts';
import { LatencyWindow, RateMeter, round2 } from './latency-window.ts';
import type { ResultBus } from './result-bus.ts';
import type { SceneRest } from './scene-rest.ts';
import type { PipelineResult } from '../results/pipeline-result.ts';
import type { PipelineStats } from './service-status.ts';

/**
 * Three decode lanes while one frame is in inference. Decoding a 720p JPEG costs more than a small
 * model's inference, so with one decode at a time the inference core idles; two let every core work
 * (measured on 2 cores with the one-member model: 200 fps with 1, 270 with 2, against 240 for
 * preprocessing alone). With the two-member model, inference costs nearly a decode, and a lane whose
 * frame waits for inference sits idle: a third lane fills that gap (+3 to +5 % pipeline fps on 2 cores,
 * measured alternately; about +3 ms median latency, and only when the pipeline is saturated). With a
 * camera slower than the pipeline the spare lanes simply wait for the next frame: no frame gets older.
 * The model's preprocessor needs prepareAhead + 1 buffers, plus one for an upload (WorkerModel keeps 5).
 */
export const DEFAULT_PREPARE_AHEAD = 3;

interface PreparedFrame {
  frame: Frame;
  /** Take order: a later take is a newer frame, even across a source restart that resets seq. */
  order: number;
  input: PreparedInput;
  preprocessMs: number;
}

/** A prepared frame waiting for inference; `taken` lets its decode lane go on. */
interface WaitingFrame extends PreparedFrame {
  taken: () => void;
}

export interface PipelineOptions {
  source: FrameSource;
  model: Model;
  bus: ResultBus;
  logger?: Logger;
  now?: () => number;
  /** No result for this long while running means the pipeline is stalled (default 10 s). */
  stallAfterMs?: number;
  /** Frames preprocessed while one is in inference (default DEFAULT_PREPARE_AHEAD). */
  prepareAhead?: number;
  /** Rest when nothing moves: asked before each decode whether the frame needs inferring at all. */
  rest?: SceneRest;
}

/**
 * Capture → preprocess → inference → result bus, continuously.
 *
 * Two rules make it fast and honest on a small board: the newest frame always wins (frames that
 * arrive while we are busy are counted as dropped, never queued; a decoded frame is still inferred),
 * and preprocessing of the next frame runs while the current one is in inference, so the pipeline runs
 * at the pace of its slowest stage rather than the sum of both. The model's preprocessor pools a tensor
 * buffer per lane, one for the frame in inference and one for an upload (see DEFAULT_PREPARE_AHEAD).
 */
export class Pipeline {
  private running = false;
  private loopDone: Promise<void> | null = null;
  private lastTakenSeq = 0;
  private frameWaiters: (() => void)[] = [];
  private readonly prepared: WaitingFrame[] = [];
  private preparedWaiter: (() => void) | null = null;
  private takeCount = 0;
  private lastInferredOrder = 0;
  private readonly preprocess = new LatencyWindow();
  private readonly inference = new LatencyWindow();
  private readonly total = new LatencyWindow();
  private readonly rate = new RateMeter();
  private processed = 0;
  private dropped = 0;
  private reused = 0;
  private lastResultAt: number | null = null;
  /** performance.now() of the last result: staleness must not depend on the wall clock, which can be set back. */
  private lastResultMono: number | null = null;
  private readonly now: () => number;
  private readonly onFrame = () => {
    const waiters = this.frameWaiters;
    this.frameWaiters = [];
    for (const wake of waiters) wake();
  };

  constructor(private readonly options: PipelineOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.source.on('frame', this.onFrame);
    this.loopDone = this.loop().catch((err: unknown) => {
      this.options.logger?.error({ err }, 'pipeline loop failed');
      this.running = false;
    });
  }

  /** Stops taking frames and waits for the inference in flight to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.options.source.off('frame', this.onFrame);
    this.onFrame();
    const wake = this.preparedWaiter;
    this.preparedWaiter = null;
    wake?.();
    await this.loopDone;
  }

  stats(): PipelineStats {
    const now = this.now();
    const sinceLastResultMs = this.lastResultMono === null ? null : Math.round(performance.now() - this.lastResultMono);
    const stale = sinceLastResultMs !== null && sinceLastResultMs > (this.options.stallAfterMs ?? 10_000);
    return {
      state: !this.running ? 'stopped' : this.processed === 0 ? 'starting' : stale ? 'stalled' : 'running',
      fps: this.rate.rate(now),
      framesProcessed: this.processed,
      framesDropped: this.dropped,
      ...(this.options.rest ? { framesReused: this.reused } : {}),
      latencyMs: {
        preprocess: this.preprocess.percentiles(),
        inference: this.inference.percentiles(),
        total: this.total.percentiles(),
      },
      lastResultAt: this.lastResultAt,
      sinceLastResultMs,
    };
  }

  /** Raw frame-to-result latencies (ms) of recent frames, for the benchmark's percentiles. */
  totalLatencies(): number[] {
    return this.total.values();
  }

  private async loop(): Promise<void> {
    const lanes = Math.max(1, this.options.prepareAhead ?? DEFAULT_PREPARE_AHEAD);
    const preparers = Array.from({ length: lanes }, () => this.prepareLane());
    while (this.running) {
      const current = await this.takeNextPrepared();
      if (!current) break;
      await this.infer(current);
    }
    // Frames prepared while we were stopping still hold pooled buffers.
    for (const left of this.prepared.splice(0)) this.discard(left, false);
    await Promise.all(preparers);
  }

  /**
   * One decode lane: takes the newest frame, prepares it, hands it to the inference loop and waits
   * until the loop has taken (or discarded) it, so no more than `prepareAhead` frames ever wait.
   */
  private async prepareLane(): Promise<void> {
    while (this.running) {
      const prepared = await this.prepareNext();
      if (!prepared) return;
      if (!this.running) {
        prepared.input.release();
        return;
      }
      await new Promise<void>((taken) => {
        this.prepared.push({ ...prepared, taken });
        const wake = this.preparedWaiter;
        this.preparedWaiter = null;
        wake?.();
      });
    }
  }

  /**
   * The oldest prepared frame not yet overtaken. A decoded frame is never thrown away for a newer
   * decoded one: decoding is the dearer half on a small board, and when inference costs about as much
   * as a decode, two lanes often finish within one inference, and discarding one wasted its decode
   * (`vegkiosk bench` with a two-member model on 2 cores: ratio 0.79 -> 0.84-0.87). Freshness holds
   * because every lane starts from the camera's newest frame and at most `prepareAhead` frames wait,
   * so a frame waits at most prepareAhead - 1 extra inference times. Results come out in frame order.
   */
  private async takeNextPrepared(): Promise<WaitingFrame | null> {
    while (this.running) {
      if (this.prepared.length) {
        this.prepared.sort((a, b) => a.order - b.order);
        const oldest = this.prepared.shift()!;
        if (oldest.order > this.lastInferredOrder) {
          this.lastInferredOrder = oldest.order;
          oldest.taken();
          return oldest;
        }
        // Overtaken by a frame already inferred (a lane that finished late).
        this.discard(oldest, true);
        continue;
      }
      await new Promise<void>((resolve) => {
        this.preparedWaiter = resolve;
      });
    }
    return null;
  }

  private discard(frame: WaitingFrame, countAsDropped: boolean): void {
    frame.input.release();
    this.options.rest?.abandoned(frame.order);
    if (countAsDropped) this.dropped++;
    frame.taken();
  }

  private async prepareNext(): Promise<PreparedFrame | null> {
    while (this.running) {
      const frame = await this.nextFrame();
      if (!frame) return null;
      const order = ++this.takeCount;
      const started = performance.now();
      const rest = this.options.rest ? await this.options.rest.decide(frame, order) : null;
      if (rest?.action === 'reuse') {
        this.publishReused(frame, rest.result, performance.now() - started);
        continue;
      }
      // The same scene as the frame in inference, whose result is on its way.
      if (rest?.action === 'skip') continue;
      try {
        const input = await this.options.model.prepare(frame.jpeg ?? frame.raw!);
        return { frame, order, input, preprocessMs: performance.now() - started };
      } catch (err) {
        this.options.rest?.abandoned(order);
        // A corrupt frame (truncated JPEG from a flaky USB link) costs one frame, never the loop.
        this.options.logger?.warn({ seq: frame.seq, err: (err as Error).message }, 'frame could not be decoded; skipped');
        this.dropped++;
      }
    }
    return null;
  }

  private async nextFrame(): Promise<Frame | null> {
    while (this.running) {
      const frame = this.options.source.latest();
      if (frame && frame.seq > this.lastTakenSeq) {
        // Frames the source delivered since the last one we took were never processed.
        if (this.lastTakenSeq > 0 && frame.seq > this.lastTakenSeq + 1) this.dropped += frame.seq - this.lastTakenSeq - 1;
        this.lastTakenSeq = frame.seq;
        return frame;
      }
      if (frame && frame.seq < this.lastTakenSeq) {
        // The source restarted and counts from 1 again.
        this.lastTakenSeq = 0;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.frameWaiters.push(resolve);
      });
    }
    return null;
  }

  /** The last inferred scene's result again, for a frame that shows the same scene. */
  private publishReused(frame: Frame, result: PipelineResult, checkMs: number): void {
    const finishedAt = this.now();
    this.reused++;
    this.rate.tick(finishedAt);
    this.lastResultAt = finishedAt;
    this.lastResultMono = performance.now();
    this.options.bus.publish({
      ...result,
      seq: frame.seq,
      capturedAt: frame.capturedAt,
      latencyMs: { preprocess: round2(checkMs), inference: 0, total: round2(Math.max(0, finishedAt - frame.capturedAt)) },
      jpeg: frame.jpeg,
      reused: true,
    });
  }

  private async infer(current: PreparedFrame): Promise<void> {
    const started = performance.now();
    try {
      const prediction = await this.options.model.run(current.input);
      const inferenceMs = performance.now() - started;
      const finishedAt = this.now();
      const totalMs = Math.max(0, finishedAt - current.frame.capturedAt);
      this.preprocess.add(current.preprocessMs);
      this.inference.add(inferenceMs);
      this.total.add(totalMs);
      this.rate.tick(finishedAt);
      this.processed++;
      this.lastResultAt = finishedAt;
      this.lastResultMono = performance.now();
      const result: PipelineResult = {
        ...prediction,
        seq: current.frame.seq,
        capturedAt: current.frame.capturedAt,
        latencyMs: { preprocess: round2(current.preprocessMs), inference: round2(inferenceMs), total: round2(totalMs) },
        jpeg: current.frame.jpeg,
      };
      this.options.bus.publish(result);
      this.options.rest?.published(current.order, result);
    } catch (err) {
      this.options.rest?.abandoned(current.order);
      this.dropped++;
      this.options.logger?.error({ seq: current.frame.seq, err: (err as Error).message }, 'inference failed for a frame');
    } finally {
      current.input.release();
    }
  }
}
