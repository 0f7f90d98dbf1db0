// The /ws connection: authenticated by the session cookie at the upgrade, reconnected with
// exponential backoff and jitter (a kiosk reboot must not be answered by every open dashboard
// hammering it at once), and closed for good on 4401 (session expired, revoked or user removed).

export const CLOSE_SESSION_ENDED = 4401;
const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 30_000;
/** A connection that stayed up this long counts as healthy: the next failure starts from BASE again. */
const STABLE_MS = 10_000;

export function backoffDelay(attempt, random = Math.random) {
  const ideal = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  return Math.round(ideal * (0.8 + 0.4 * random()));
}

export class LiveSocket {
  /**
   * handlers: message(obj), frame(Blob), state(name, detail), sessionEnded(),
   * sessionValid() → Promise<boolean> (asked after a refused upgrade, which the browser reports only as 1006).
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.wantFrames = false;
    this.stopped = true;
    /** Bumped by start() and stop(): an answer that arrives for an earlier run is ignored. */
    this.run = 0;
  }

  start() {
    if (!this.stopped) return;
    this.run++;
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.run++;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, 'bye');
    }
  }

  /** Frames cost bandwidth and the kiosk's CPU: only ask for them while someone is looking. */
  setFrames(on) {
    this.wantFrames = on;
    this.send({ type: 'subscribe', frames: on });
  }

  send(obj) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    this.handlers.state('connecting');
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.retry();
      return;
    }
    ws.binaryType = 'blob';
    this.ws = ws;
    let openedAt = 0;
    ws.addEventListener('open', () => {
      openedAt = Date.now();
      this.handlers.state('open');
      if (this.wantFrames) this.send({ type: 'subscribe', frames: true });
    });
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return void this.handlers.frame(ev.data);
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.handlers.message(msg);
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === CLOSE_SESSION_ENDED) {
        this.stopped = true;
        this.handlers.sessionEnded();
        return;
      }
      if (openedAt && Date.now() - openedAt > STABLE_MS) this.attempt = 0;
      if (!openedAt) {
        // Refused upgrades (401/403) look like any network failure here; ask the API which it was.
        // Signed out and in again meanwhile, the new run has its own socket: this answer is stale.
        const run = this.run;
        this.handlers.sessionValid().then((valid) => {
          if (this.stopped || run !== this.run) return;
          if (valid === false) {
            this.stopped = true;
            this.handlers.sessionEnded();
          } else {
            this.retry();
          }
        });
        return;
      }
      this.retry();
    });
  }

  retry() {
    const delay = backoffDelay(this.attempt++);
    this.handlers.state('waiting', Math.ceil(delay / 1000));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.connect();
    }, delay);
  }
}
