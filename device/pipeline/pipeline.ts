import type { Frame, FrameSource } from '../camera/frame-source.ts';
import type { Model, PreparedInput } from '../inference/model.ts';
import type { Logger } from '../logger.ts';
import { LatencyWindow, RateMeter, round2 } from './latency-window.ts';
import type { ResultBus } from './result-bus.ts';
import type { PipelineStats } from './service-status.ts';

interface PreparedFrame {
  frame: Frame;
  input: PreparedInput;
  preprocessMs: number;
}

export interface PipelineOptions {
  source: FrameSource;
  model: Model;
  bus: ResultBus;
  logger?: Logger;
  now?: () => number;
  /** No result for this long while running means the pipeline is stalled (default 10 s). */
  stallAfterMs?: number;
}

/**
 * Capture → preprocess → inference → result bus, continuously.
 *
 * Two rules make it fast and honest on a small board: the newest frame always wins (frames that
 * arrive while we are busy are counted as dropped, never queued), and preprocessing of the next frame
 * runs while the current one is in inference, so the pipeline runs at the pace of its slowest stage
 * rather than the sum of both. The model's preprocessor pools two tensor buffers for exactly this.
 */
export class Pipeline {
  private running = false;
  private loopDone: Promise<void> | null = null;
  private lastTakenSeq = 0;
  private frameWaiter: (() => void) | null = null;
  private readonly preprocess = new LatencyWindow();
  private readonly inference = new LatencyWindow();
  private readonly total = new LatencyWindow();
  private readonly rate = new RateMeter();
  private processed = 0;
  private dropped = 0;
  private lastResultAt: number | null = null;
  private readonly now: () => number;
  private readonly onFrame = () => {
    const wake = this.frameWaiter;
    this.frameWaiter = null;
    wake?.();
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
    await this.loopDone;
  }

  stats(): PipelineStats {
    const now = this.now();
    const stale = this.lastResultAt !== null && now - this.lastResultAt > (this.options.stallAfterMs ?? 10_000);
    return {
      state: !this.running ? 'stopped' : this.processed === 0 ? 'starting' : stale ? 'stalled' : 'running',
      fps: this.rate.rate(now),
      framesProcessed: this.processed,
      framesDropped: this.dropped,
      latencyMs: {
        preprocess: this.preprocess.percentiles(),
        inference: this.inference.percentiles(),
        total: this.total.percentiles(),
      },
      lastResultAt: this.lastResultAt,
    };
  }

  /** Raw frame-to-result latencies (ms) of recent frames, for the benchmark's percentiles. */
  totalLatencies(): number[] {
    return this.total.values();
  }

  private async loop(): Promise<void> {
    let next = this.prepareNext();
    while (this.running) {
      const current = await next;
      if (!current) break;
      // Start on the next frame before inferring this one: the overlap is the point.
      next = this.prepareNext();
      await this.infer(current);
    }
    // A frame prepared while we were stopping still holds a pooled buffer.
    const leftover = await next;
    leftover?.input.release();
  }

  private async prepareNext(): Promise<PreparedFrame | null> {
    while (this.running) {
      const frame = await this.nextFrame();
      if (!frame) return null;
      const started = performance.now();
      try {
        const input = await this.options.model.prepare(frame.jpeg ?? frame.raw!);
        return { frame, input, preprocessMs: performance.now() - started };
      } catch (err) {
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
        this.frameWaiter = resolve;
      });
    }
    return null;
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
      this.options.bus.publish({
        ...prediction,
        seq: current.frame.seq,
        capturedAt: current.frame.capturedAt,
        latencyMs: { preprocess: round2(current.preprocessMs), inference: round2(inferenceMs), total: round2(totalMs) },
        jpeg: current.frame.jpeg,
      });
    } catch (err) {
      this.dropped++;
      this.options.logger?.error({ seq: current.frame.seq, err: (err as Error).message }, 'inference failed for a frame');
    } finally {
      current.input.release();
    }
  }
}
