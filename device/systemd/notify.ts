import { execFile } from 'node:child_process';
import type { Logger } from '../logger.ts';

/**
 * sd_notify(3) for Node without a native addon.
 *
 * NOTIFY_SOCKET is an AF_UNIX datagram socket and Node's dgram module cannot send to one, so each
 * notification is handed to systemd's own `systemd-notify` binary (present wherever systemd is).
 * Because the sender is then a child process, the unit needs NotifyAccess=all. systemd attributes a
 * message to a unit by the sender's PID, which only works while the sender is alive; systemd-notify
 * (without --no-block) waits on a BARRIER=1 round trip before exiting, so we never pass --no-block.
 * MAINPID is not sent: with Type=notify the ExecStart process (node) already is the main PID.
 *
 * Every function is a no-op resolving to false when NOTIFY_SOCKET is unset (npm start, tests, CLI).
 */

export interface NotifyOptions {
  /** Environment to read NOTIFY_SOCKET from and pass on; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** The systemd-notify executable; found on PATH by default. */
  command?: string;
  /** Give up on one notification after this long (systemd-notify's own barrier wait is 5 s). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Sends `KEY=VALUE` assignments in one datagram. Resolves true when sent, false when not running
 * under a notify-aware service manager; rejects with an error naming the socket otherwise.
 */
export function sdNotify(assignments: Record<string, string>, options: NotifyOptions = {}): Promise<boolean> {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return Promise.resolve(false);
  const badKey = Object.keys(assignments).find((key) => !/^[A-Z_][A-Z0-9_]*$/.test(key));
  if (badKey !== undefined) {
    return Promise.reject(new RangeError(`sd_notify field name must be upper-case A-Z, 0-9 and _, got ${JSON.stringify(badKey)}`));
  }
  const args = Object.entries(assignments).map(([key, value]) => {
    // A newline would start another field: a status text taken from an error message must never be
    // able to say READY=1 or STOPPING=1 on the service's behalf.
    return `${key}=${value.replace(/[\r\n]+/g, ' ')}`;
  });
  const command = options.command ?? 'systemd-notify';
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (!error) return resolve(true);
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT'
        ? `${command} not found on PATH (install systemd's systemd-notify, or unset NOTIFY_SOCKET)`
        : `${command} ${args.join(' ')} failed: ${String(stderr).trim() || error.message}`;
      reject(new Error(`sd_notify to ${socket}: ${why}`, { cause: error }));
    });
  });
}

/** Start-up finished: call once the first frame has been inferred. */
export function notifyReady(status?: string, options?: NotifyOptions): Promise<boolean> {
  return sdNotify(status === undefined ? { READY: '1' } : { READY: '1', STATUS: status }, options);
}

/** Keep-alive; call only while the pipeline really produces results (see Watchdog). */
export function notifyWatchdog(options?: NotifyOptions): Promise<boolean> {
  return sdNotify({ WATCHDOG: '1' }, options);
}

/** Shutdown has begun, so a slow stop is not mistaken for a hang. */
export function notifyStopping(status?: string, options?: NotifyOptions): Promise<boolean> {
  return sdNotify(status === undefined ? { STOPPING: '1' } : { STOPPING: '1', STATUS: status }, options);
}

/** One line shown by `systemctl status vegkiosk`. */
export function notifyStatus(text: string, options?: NotifyOptions): Promise<boolean> {
  return sdNotify({ STATUS: text }, options);
}

/**
 * How often to ping: half of WATCHDOG_USEC (as sd_watchdog_enabled(3) recommends), or null when the
 * unit has no WatchdogSec=, when NOTIFY_SOCKET is unset, or when WATCHDOG_PID names another process
 * (the variables were inherited by a child, e.g. `vegkiosk doctor` run from the service's shell).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | null {
  if (!env.NOTIFY_SOCKET) return null;
  const raw = env.WATCHDOG_USEC;
  if (!raw || !/^\d+$/.test(raw)) return null;
  const usec = Number(raw);
  if (!Number.isSafeInteger(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && env.WATCHDOG_PID !== String(pid)) return null;
  return Math.max(1, Math.floor(usec / 2000));
}

export interface WatchdogOptions {
  /** Time between checks; use watchdogIntervalMs(). */
  intervalMs: number;
  /** True while the service is doing its job, e.g. "a pipeline result within the last N seconds". */
  isHealthy: () => boolean;
  /** Sends one keep-alive; notifyWatchdog by default. Resolving to false means "not sent". */
  notify?: () => Promise<unknown>;
  logger?: Logger;
}

/**
 * Pings the systemd watchdog only while isHealthy() says so. A wedged camera, a hung inference
 * session or a stuck event loop all stop the pings, and systemd restarts the service after
 * WatchdogSec=. A process that merely stays alive is not enough.
 */
export class Watchdog {
  readonly #intervalMs: number;
  readonly #isHealthy: () => boolean;
  readonly #notify: () => Promise<unknown>;
  readonly #logger: Logger | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;
  // undefined until the first healthy check: the wait for the first result is start-up (systemd's
  // TimeoutStartSec), not a stall worth a warning.
  #healthy: boolean | undefined;
  #pings = 0;

  constructor(options: WatchdogOptions) {
    if (!Number.isFinite(options.intervalMs) || options.intervalMs <= 0) {
      throw new RangeError(`Watchdog intervalMs must be a positive number of milliseconds, got ${options.intervalMs}`);
    }
    this.#intervalMs = options.intervalMs;
    this.#isHealthy = options.isHealthy;
    this.#notify = options.notify ?? (() => notifyWatchdog());
    this.#logger = options.logger;
  }

  /** Keep-alives sent so far. */
  get pings(): number {
    return this.#pings;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Checks at once, then every intervalMs. The timer does not keep the process alive. */
  start(): this {
    if (this.#timer) return this;
    this.#timer = setInterval(() => void this.tick(), this.#intervalMs);
    this.#timer.unref();
    void this.tick();
    return this;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One check; resolves true when a keep-alive was sent. */
  async tick(): Promise<boolean> {
    // A ping still waiting on systemd-notify must not pile up more processes behind it.
    if (this.#inFlight) return false;
    let healthy: boolean;
    try {
      healthy = this.#isHealthy();
    } catch (err) {
      this.#logger?.error({ err }, 'watchdog health check threw; treating the service as unhealthy');
      healthy = false;
    }
    if (healthy && this.#healthy === false) {
      this.#logger?.info('pipeline producing results again; watchdog pings resumed');
    } else if (!healthy && this.#healthy === true) {
      this.#logger?.warn('pipeline produced no recent result; withholding watchdog pings, systemd restarts the service if this lasts WatchdogSec');
    }
    if (healthy || this.#healthy !== undefined) this.#healthy = healthy;
    if (!healthy) return false;
    this.#inFlight = true;
    try {
      const sent = (await this.#notify()) !== false;
      if (sent) this.#pings++;
      return sent;
    } catch (err) {
      this.#logger?.error({ err }, 'watchdog keep-alive could not be sent');
      return false;
    } finally {
      this.#inFlight = false;
    }
  }
}

export interface ExtendStartOptions {
  /** How often to ask for more time; each request covers twice this, so one late message is harmless. */
  stepMs?: number;
  /** Never extend past this in total: a step that hangs must still end in systemd's restart. */
  maxMs: number;
  /** Sends one EXTEND_TIMEOUT_USEC request; sdNotify by default. */
  notify?: (usec: number) => Promise<unknown>;
  logger?: Logger;
}

/**
 * Runs a slow start-up step (the first TensorRT engine build on a Jetson can outlast the unit's
 * TimeoutStartSec=600) while asking systemd for more start time, so the service is not killed
 * mid-build, restarted, and made to start the same build again forever. Bounded by maxMs.
 */
export async function extendStartWhile<T>(work: Promise<T>, options: ExtendStartOptions): Promise<T> {
  const stepMs = options.stepMs ?? 60_000;
  const notify = options.notify ?? ((usec: number) => sdNotify({ EXTEND_TIMEOUT_USEC: String(usec) }));
  const started = Date.now();
  const ask = () => {
    if (Date.now() - started >= options.maxMs) {
      clearInterval(timer);
      options.logger?.warn({ maxMs: options.maxMs }, 'start-up step still running; no longer asking systemd for more start time');
      return;
    }
    notify(stepMs * 2 * 1000).catch((err: Error) => options.logger?.warn({ err: err.message }, 'sd_notify EXTEND_TIMEOUT_USEC failed'));
  };
  const timer = setInterval(ask, stepMs);
  timer.unref();
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
