import type { EventEmitter } from 'node:events';

/** One captured picture. Camera backends deliver JPEG; synthetic/replay may deliver raw RGB. */
export interface Frame {
  /** Monotonic per source, starting at 1. */
  seq: number;
  /** Wall-clock capture time, ms since the epoch (Date.now() when the bytes arrived). */
  capturedAt: number;
  /** Encoded JPEG bytes (what USB webcams and MJPEG streams deliver). */
  jpeg?: Buffer;
  /** Raw interleaved pixels, when the source produced them itself. */
  raw?: RawImage;
}

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

export type SourceState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

export interface SourceHealth {
  /** The configured source string, e.g. "v4l2:/dev/video0". */
  source: string;
  /** Backend name: synthetic | replay | webcam | v4l2 | rtsp | csi. */
  kind: string;
  state: SourceState;
  framesDelivered: number;
  lastFrameAt: number | null;
  restarts: number;
  /** Last failure, worded for a technician (what failed and what to check). */
  lastError: string | null;
  /** Why this source was chosen (set by the service for `auto`). */
  reason?: string;
  /** Present on the shipped demo photos only: frames are not from a camera. */
  demo?: true;
}

/**
 * What a FrameSource emits, listener arguments by event name: a misspelt event or a listener of the
 * wrong shape fails the type check instead of never being called.
 */
export interface FrameSourceEvents {
  /** Every new frame. */
  frame: [Frame];
  /** Every change of state. */
  state: [SourceState];
}

/** A camera, file or pattern that produces frames. Consumers that only want the newest frame use latest(). */
export interface FrameSource extends EventEmitter<FrameSourceEvents> {
  readonly kind: string;
  readonly source: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  latest(): Frame | null;
  health(): SourceHealth;
}
