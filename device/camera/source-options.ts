import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawn as nodeSpawn } from 'node:child_process';
import type { Logger } from '../logger.ts';
import type { BackoffPolicy } from '../supervision/backoff.ts';

/** The one signature of child_process.spawn the camera backends use; tests inject their own. */
export type SpawnFn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

/** The restart pacing of a camera session: the shared back-off, reset once a session has proved healthy. */
export interface SourceBackoffPolicy extends BackoffPolicy {
  /** A session that has delivered frames for this long resets the delay to initialMs. */
  healthyMs: number;
}

/** Options every frame source takes (backends add their own on top). */
export interface SourceOptions {
  width: number;
  height: number;
  fps: number;
  /** A running source that delivers no frame for this long is restarted. */
  stallMs: number;
  logger?: Logger;
  spawn?: SpawnFn;
  /**
   * Allowance for the first frame after each (re)start. RTSP cameras and some USB cameras take
   * seconds to deliver, so this defaults to max(stallMs, 10 s) instead of stallMs.
   */
  startTimeoutMs?: number;
  backoff?: Partial<SourceBackoffPolicy>;
}

export interface ResolvedSourceOptions {
  width: number;
  height: number;
  fps: number;
  stallMs: number;
  startTimeoutMs: number;
  logger: Logger | undefined;
  spawn: SpawnFn;
  backoff: SourceBackoffPolicy;
}

export const DEFAULT_BACKOFF: SourceBackoffPolicy = { initialMs: 500, maxMs: 30_000, healthyMs: 30_000 };

export function resolveSourceOptions(opts: SourceOptions): ResolvedSourceOptions {
  for (const key of ['width', 'height', 'fps', 'stallMs'] as const) {
    const value = opts[key];
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`camera option ${key} must be a positive number, got ${String(value)}`);
    }
  }
  return {
    width: Math.round(opts.width),
    height: Math.round(opts.height),
    fps: opts.fps,
    stallMs: opts.stallMs,
    startTimeoutMs: opts.startTimeoutMs ?? Math.max(opts.stallMs, 10_000),
    logger: opts.logger,
    spawn: opts.spawn ?? nodeSpawn,
    backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
  };
}
