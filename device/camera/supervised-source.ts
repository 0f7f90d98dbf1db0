import { EventEmitter } from 'node:events';
import type { Logger } from '../logger.ts';
import { backoffDelay } from '../supervision/backoff.ts';
import { errorMessage } from '../supervision/error-message.ts';
import type { Frame, FrameSource, FrameSourceEvents, RawImage, SourceHealth, SourceState } from './frame-source.ts';
import { SourceError } from './source-error.ts';
import type { ResolvedSourceOptions, SourceOptions } from './source-options.ts';
import { resolveSourceOptions } from './source-options.ts';

export interface FramePayload {
  jpeg?: Buffer;
  raw?: RawImage;
}

/**
 * How a running backend session reports back. Calls from a session that has already been
 * replaced or stopped are ignored, so a dying process cannot deliver into its successor.
 */
export interface SessionHooks {
  frame(payload: FramePayload): void;
  fail(error: unknown): void;
}

/** One opened producer: a process, a capture loop, a timer. */
export interface Session {
  /** Releases everything the session holds (processes, timers, temp files); never rejects. */
  close(): Promise<void>;
}

/**
 * The supervision every backend shares: it opens a session, watches that frames keep coming,
 * and replaces the session with exponential backoff when it fails, exits or stalls. Backends
 * only say how to open a session. A failure to open is reported through health(), never thrown
 * out of start(): a camera that is unplugged at boot must not crash-loop the service.
 */
export abstract class SupervisedSource extends EventEmitter<FrameSourceEvents> implements FrameSource {
  abstract readonly kind: string;
  readonly source: string;
  protected readonly options: ResolvedSourceOptions;
  protected readonly logger: Logger | undefined;

  private state: SourceState = 'stopped';
  private stopped = true;
  /** Bumped whenever the current session is given up; stale hooks compare against it. */
  private generation = 0;
  private session: Session | null = null;
  private opening: Promise<void> = Promise.resolve();
  private closing: Promise<void> = Promise.resolve();
  private attemptActive = false;
  /** Stall timing runs on the monotonic clock (performance.now()): a wall clock set back must not hide a stall. */
  private attemptStartedAt = 0;
  private lastFrameMono: number | null = null;
  private sessionFrames = 0;
  private consecutiveFailures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private seq = 0;
  private newest: Frame | null = null;
  private framesDelivered = 0;
  private lastFrameAt: number | null = null;
  private restarts = 0;
  private lastError: string | null = null;

  constructor(source: string, options: SourceOptions) {
    super();
    this.source = source;
    this.options = resolveSourceOptions(options);
    this.logger = this.options.logger;
  }

  /** Opens one session. Throwing (or calling hooks.fail) schedules a restart. */
  protected abstract open(hooks: SessionHooks): Promise<Session>;

  /** What a technician should check when this backend stops delivering. */
  protected abstract stallHint(): string;

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.setState('starting');
    const checkEvery = Math.max(20, Math.min(this.options.stallMs, this.options.startTimeoutMs) / 4);
    this.watchdog = setInterval(() => this.checkStall(), checkEvery);
    await this.attempt();
  }

  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.generation++;
      this.attemptActive = false;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      if (this.watchdog) clearInterval(this.watchdog);
      this.retryTimer = null;
      this.watchdog = null;
      const session = this.session;
      this.session = null;
      if (session) this.closeSession(session);
    }
    // An open still in flight closes its own session once it notices the stop.
    await this.opening;
    await this.closing;
    this.setState('stopped');
  }

  latest(): Frame | null {
    return this.newest;
  }

  health(): SourceHealth {
    return {
      source: this.source,
      kind: this.kind,
      state: this.state,
      framesDelivered: this.framesDelivered,
      lastFrameAt: this.lastFrameAt,
      restarts: this.restarts,
      lastError: this.lastError,
    };
  }

  private attempt(): Promise<void> {
    const previous = this.opening;
    const run = (async () => {
      // The previous session must let go of the device before the next one opens it.
      await previous;
      await this.closing;
      if (this.stopped) return;
      await this.openSession();
    })();
    this.opening = run;
    return run;
  }

  private async openSession(): Promise<void> {
    const generation = ++this.generation;
    this.attemptActive = false;
    this.attemptStartedAt = performance.now();
    this.sessionFrames = 0;
    const current = () => generation === this.generation && !this.stopped;
    const hooks: SessionHooks = {
      frame: (payload) => {
        if (current()) this.deliver(payload);
      },
      fail: (error) => {
        if (current()) this.handleFailure(error);
      },
    };
    let session: Session;
    try {
      session = await this.open(hooks);
    } catch (error) {
      hooks.fail(error);
      return;
    }
    if (!current()) {
      this.closeSession(session);
      await this.closing;
      return;
    }
    this.session = session;
    // The first-frame clock starts once the session is up: loading a large replay directory
    // may legitimately take longer than startTimeoutMs, and must not be restarted in a loop.
    this.attemptStartedAt = performance.now();
    this.attemptActive = true;
  }

  private closeSession(session: Session): void {
    const closed = session.close().catch((error: unknown) => {
      this.logger?.error({ camera: this.source, err: errorMessage(error) }, 'camera session did not close cleanly');
    });
    this.closing = Promise.all([this.closing, closed]).then(() => undefined);
  }

  private deliver(payload: FramePayload): void {
    const now = Date.now();
    const mono = performance.now();
    const frame: Frame = { seq: ++this.seq, capturedAt: now, ...payload };
    this.newest = frame;
    this.framesDelivered++;
    this.lastFrameAt = now;
    this.lastFrameMono = mono;
    this.sessionFrames++;
    if (mono - this.attemptStartedAt >= this.options.backoff.healthyMs) this.consecutiveFailures = 0;
    if (this.state !== 'running') {
      if (this.restarts > 0) {
        this.logger?.info({ camera: this.source, restarts: this.restarts }, 'camera delivering frames again');
      }
      this.setState('running');
    }
    try {
      this.emit('frame', frame);
    } catch (error) {
      // A consumer bug must not take the capture process down with it.
      this.logger?.error({ camera: this.source, err: errorMessage(error) }, 'frame listener threw');
    }
  }

  private handleFailure(error: unknown): void {
    this.generation++;
    this.attemptActive = false;
    const message = error instanceof SourceError
      ? error.message
      : `Camera source "${this.source}" (${this.kind}) failed: ${errorMessage(error)}`;
    const permanent = error instanceof SourceError && error.permanent;
    const delay = backoffDelay(this.options.backoff, this.consecutiveFailures, permanent);
    this.consecutiveFailures++;
    this.lastError = message;
    this.logger?.warn({ camera: this.source, kind: this.kind, retryInMs: delay }, message);
    const session = this.session;
    this.session = null;
    if (session) this.closeSession(session);
    this.setState(permanent ? 'failed' : 'restarting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.restarts++;
      void this.attempt();
    }, delay);
  }

  private checkStall(): void {
    if (!this.attemptActive || this.stopped) return;
    const now = performance.now();
    if (this.sessionFrames === 0) {
      const waited = Math.round(now - this.attemptStartedAt);
      if (waited > this.options.startTimeoutMs) {
        this.handleFailure(new SourceError(
          `Camera source "${this.source}" started but delivered no frame within ${waited} ms. ${this.stallHint()}`,
        ));
      }
    } else if (this.lastFrameMono !== null && now - this.lastFrameMono > this.options.stallMs) {
      this.handleFailure(new SourceError(
        `Camera source "${this.source}" stopped delivering frames (none for ${Math.round(now - this.lastFrameMono)} ms). ${this.stallHint()}`,
      ));
    }
  }

  private setState(state: SourceState): void {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }
}
