/**
 * What a suite started, stopped by its `after` hook whatever happened in `before`. A start is tracked
 * from the moment it begins, so when two things start together and one fails, the other is still
 * stopped once it has started (with a bare `Promise.all`, the `after` hook never got hold of a
 * `vegkiosk serve` whose browser failed to launch, and the service outlived the run).
 *
 *   const teardown = new Teardown();
 *   before(async () => { [kiosk, browser] = await Promise.all([
 *     teardown.track(startKiosk(…), (k) => k.stop()), teardown.track(launchBrowser(), (b) => b.close())]); });
 *   after(() => teardown.run());
 */
export class Teardown {
  private stops: (() => Promise<void> | void)[] = [];
  private pending: Promise<unknown>[] = [];

  /** Returns `starting`; once it resolves, `stop` is due at teardown, even if a sibling failed. */
  track<T>(starting: Promise<T>, stop: (started: T) => Promise<unknown> | unknown): Promise<T> {
    const tracked = starting.then((started) => {
      this.stops.push(async () => { await stop(started); });
      return started;
    });
    this.pending.push(tracked.catch(() => undefined));
    return tracked;
  }

  /** A stop for something already started (or a temp dir to remove). */
  add(stop: () => Promise<unknown> | unknown): void {
    this.stops.push(async () => { await stop(); });
  }

  /** Waits for starts still under way, then stops everything, last started first; every stop runs. */
  async run(): Promise<void> {
    await Promise.all(this.pending.splice(0));
    const errors: unknown[] = [];
    for (const stop of this.stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new AggregateError(errors, `${errors.length} stops failed at teardown`);
  }
}
