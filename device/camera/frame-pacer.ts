export interface Pacer {
  /** Stops ticking and waits for a produce() call still in flight. */
  stop(): Promise<void>;
}

/**
 * Calls produce() at most `fps` times a second, never overlapping: a slow produce() (a JPEG
 * encode, an fswebcam still) delays the next tick instead of queueing work behind it. The first
 * rejection stops the pacer and goes to onError; the supervisor then replaces the session. Paced on
 * the monotonic clock: the wall clock set back by NTP or by hand must not pause the frames.
 */
export function paceFrames(fps: number, produce: () => Promise<void>, onError: (error: unknown) => void): Pacer {
  const interval = 1000 / fps;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let inflight: Promise<void> | null = null;
  let due = performance.now();

  const tick = (): void => {
    timer = null;
    if (stopped) return;
    inflight = produce().then(
      () => {
        inflight = null;
        if (stopped) return;
        const now = performance.now();
        due += interval;
        // After falling behind (slow produce, busy CPU) restart the timeline rather than burst.
        if (due < now) due = now;
        timer = setTimeout(tick, due - now);
      },
      (error: unknown) => {
        inflight = null;
        if (stopped) return;
        stopped = true;
        onError(error);
      },
    );
  };
  timer = setTimeout(tick, 0);

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await inflight;
    },
  };
}
