/**
 * Retry pacing shared by everything that keeps reconnecting on its own (camera sessions, the
 * inference worker, later the fleet publisher): a doubling delay with a ceiling, so a fault that lasts
 * costs little CPU and a log line per retry stays readable, and a wait that a shutdown can cut short.
 */
export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** Ceiling for the doubling delay; also the retry period for causes that retrying alone will not fix. */
  maxMs: number;
}

/**
 * Delay before retry number `failures + 1`: initialMs doubling per consecutive failure, capped at
 * maxMs. `permanent` (a program not installed, a file that is not there) waits the ceiling at once.
 */
export function backoffDelay(policy: BackoffPolicy, failures: number, permanent = false): number {
  if (permanent) return policy.maxMs;
  // The exponent is capped so that a long outage cannot overflow into Infinity or NaN arithmetic.
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(failures, 0), 30));
}

/** A pending back-off wait; `cut()` ends it early (close() must not sit out a 30 s delay). */
export interface BackoffWait {
  readonly done: Promise<void>;
  cut(): void;
}

/** Waits `ms` unless cut short; either way `done` resolves, never rejects. */
export function backoffWait(ms: number): BackoffWait {
  let cut!: () => void;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    cut = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  return { done, cut };
}
