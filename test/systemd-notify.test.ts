import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  extendStartWhile, notifyReady, notifyStatus, notifyStopping, notifyWatchdog, sdNotify, Watchdog, watchdogIntervalMs,
} from '../device/systemd/notify.ts';

// What systemd's PID 1 does with NOTIFY_SOCKET, minus the bookkeeping: bind an AF_UNIX datagram socket
// and read messages. recv() without room for ancillary data closes the fd that systemd-notify sends
// with BARRIER=1, which is exactly the "processed" signal systemd-notify waits for.
const LISTENER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

function has(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

class NotifyListener {
  readonly messages: string[] = [];
  readonly #waiters: Array<() => void> = [];
  private constructor(readonly path: string, private readonly child: ChildProcessWithoutNullStreams) {}

  static async start(path: string): Promise<NotifyListener> {
    const child = spawn('python3', ['-c', LISTENER, path]);
    const listener = new NotifyListener(path, child);
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`notify listener exited ${code} before binding ${path}`)));
      lines.once('line', () => resolve());
    });
    lines.on('line', (line) => {
      listener.messages.push(...(JSON.parse(line) as string).split('\n').filter((l) => l !== 'BARRIER=1'));
      listener.#waiters.splice(0).forEach((w) => w());
    });
    return listener;
  }

  /** Resolves once the received fields satisfy `done`; event-driven, no polling interval. */
  until(done: (fields: string[]) => boolean): Promise<void> {
    if (done(this.messages)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => (done(this.messages) ? resolve() : this.#waiters.push(check));
      this.#waiters.push(check);
    });
  }

  count(field: string): number {
    return this.messages.filter((m) => m === field).length;
  }

  stop(): void {
    this.child.kill();
  }
}

/** Resolves once `cond` holds, re-checking every few milliseconds (a wait, not a timing assertion). */
async function eventually(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('systemd notify (device/systemd/notify.ts)', function () {
  let dir: string;
  let listener: NotifyListener;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    if (!has('python3', ['-c', 'import socket; socket.AF_UNIX']) || !has('systemd-notify', ['--version'])) {
      console.log('      skipped: needs python3 (test listener) and systemd-notify (Debian package "systemd")');
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-notify-'));
    listener = await NotifyListener.start(join(dir, 'notify.sock'));
    env = { ...process.env, NOTIFY_SOCKET: listener.path };
  });
  after(() => {
    listener?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('does nothing and says so when NOTIFY_SOCKET is unset', async () => {
    const bare = { PATH: process.env.PATH };
    expect(await notifyReady(undefined, { env: bare })).to.equal(false);
    expect(await notifyWatchdog({ env: bare })).to.equal(false);
    expect(await notifyStopping(undefined, { env: bare })).to.equal(false);
    expect(await notifyStatus('x', { env: bare })).to.equal(false);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' })).to.equal(null);
  });

  it('pings at half of WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '30000000' })).to.equal(15_000);
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42)).to.equal(15_000);
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 43)).to.equal(null);
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/x' })).to.equal(null);
    expect(watchdogIntervalMs({ NOTIFY_SOCKET: '/x', WATCHDOG_USEC: 'soon' })).to.equal(null);
  });

  it('delivers READY=1 with a status, WATCHDOG=1 and STOPPING=1 to the notify socket', async () => {
    expect(await notifyReady('first frame inferred', { env })).to.equal(true);
    expect(await notifyWatchdog({ env })).to.equal(true);
    expect(await notifyStopping(undefined, { env })).to.equal(true);
    await listener.until((m) => m.includes('STOPPING=1'));
    expect(listener.messages).to.include.members(['READY=1', 'STATUS=first frame inferred', 'WATCHDOG=1', 'STOPPING=1']);
  });

  it('asks systemd for more start time while a slow start-up step runs, and stops when it ends', async () => {
    const step = new Promise<string>((resolve) => setTimeout(() => resolve('model open'), 300));
    const notify = (usec: number) => sdNotify({ EXTEND_TIMEOUT_USEC: String(usec) }, { env });
    expect(await extendStartWhile(step, { stepMs: 50, maxMs: 60_000, notify })).to.equal('model open');
    await listener.until((m) => m.includes('EXTEND_TIMEOUT_USEC=100000'));
    // Datagrams sent before the step ended may still wait in the socket for this process's event loop
    // (it failed under load counting one of those as 'after'): let them in before counting.
    await new Promise((r) => setTimeout(r, 100));
    const asked = listener.count('EXTEND_TIMEOUT_USEC=100000');
    await new Promise((r) => setTimeout(r, 200));
    expect(listener.count('EXTEND_TIMEOUT_USEC=100000'), 'no requests after the step ended').to.equal(asked);
  });

  it('stops asking for start time after maxMs, so a hung step still ends in a restart', async () => {
    let asked = 0;
    const warnings: string[] = [];
    const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as Parameters<typeof extendStartWhile>[1]['logger'];
    const step = new Promise((resolve) => setTimeout(resolve, 400));
    await extendStartWhile(step, { stepMs: 20, maxMs: 60, notify: async () => { asked++; }, logger });
    expect(asked, 'about maxMs / stepMs requests, not one every step for the whole 400 ms').to.be.at.most(3);
    expect(warnings.join()).to.match(/no longer asking systemd/);
  });

  it('cannot be made to send extra fields through a status text', async () => {
    const before = listener.count('READY=1');
    await notifyStatus('camera failed:\nREADY=1', { env });
    await listener.until((m) => m.some((l) => l.startsWith('STATUS=camera failed:')));
    expect(listener.messages).to.include('STATUS=camera failed: READY=1');
    expect(listener.count('READY=1')).to.equal(before);
    let refused: unknown;
    await sdNotify({ 'READY=1\nX': '1' }, { env }).catch((e: unknown) => { refused = e; });
    expect(String(refused)).to.match(/field name/);
  });

  it('reports which socket and why when a notification cannot be delivered', async () => {
    const missing = { ...env, NOTIFY_SOCKET: join(dir, 'nobody-listens.sock') };
    let error: Error | undefined;
    await notifyWatchdog({ env: missing }).catch((e: Error) => { error = e; });
    expect(error?.message).to.include('nobody-listens.sock');
    await notifyWatchdog({ env, command: 'systemd-notify-not-installed' }).catch((e: Error) => { error = e; });
    expect(error?.message).to.include('not found on PATH');
  });

  it('Watchdog pings while healthy, stops while unhealthy, and resumes', async () => {
    let healthy = true;
    let checks = 0;
    const watchdog = new Watchdog({
      intervalMs: 20,
      isHealthy: () => { checks++; return healthy; },
      notify: () => notifyWatchdog({ env }),
    });
    const start = listener.count('WATCHDOG=1');
    watchdog.start();
    try {
      await listener.until(() => listener.count('WATCHDOG=1') >= start + 2);

      healthy = false;
      // A check that saw "unhealthy" runs only once no ping is in flight (tick skips while one is), so
      // after it every ping that will ever be sent for the healthy period has already been delivered.
      const seen = checks;
      await eventually(() => checks > seen);
      await notifyStatus('mark-1', { env });
      await listener.until((m) => m.includes('STATUS=mark-1'));
      const quiet = listener.count('WATCHDOG=1');
      const pings = watchdog.pings;
      await eventually(() => checks >= seen + 4);
      await notifyStatus('mark-2', { env });
      await listener.until((m) => m.includes('STATUS=mark-2'));
      expect(listener.count('WATCHDOG=1'), 'pings sent while unhealthy').to.equal(quiet);
      expect(watchdog.pings).to.equal(pings);

      healthy = true;
      await listener.until(() => listener.count('WATCHDOG=1') > quiet);
    } finally {
      watchdog.stop();
    }
    expect(watchdog.running).to.equal(false);
  });

  it('Watchdog warns when results stop, not while waiting for the first one', async () => {
    const lines: string[] = [];
    const logger = { error: () => {}, warn: (m: string) => lines.push(`warn ${m}`), info: (m: string) => lines.push(`info ${m}`) };
    let healthy = false;
    const watchdog = new Watchdog({ intervalMs: 60_000, isHealthy: () => healthy, notify: async () => true, logger: logger as never });
    await watchdog.tick();
    expect(lines, 'before the first result').to.deep.equal([]);
    healthy = true;
    expect(await watchdog.tick()).to.equal(true);
    healthy = false;
    expect(await watchdog.tick()).to.equal(false);
    healthy = true;
    await watchdog.tick();
    expect(lines.map((l) => l.split(' ')[0])).to.deep.equal(['warn', 'info']);
    expect(watchdog.pings).to.equal(2);
  });

  it('Watchdog survives a failing notifier and a throwing health check', async () => {
    const errors: string[] = [];
    const logger = { error: (o: { err: Error }) => errors.push(o.err.message), warn: () => {}, info: () => {} };
    let throwCheck = false;
    const watchdog = new Watchdog({
      intervalMs: 60_000,
      isHealthy: () => { if (throwCheck) throw new Error('probe broke'); return true; },
      notify: () => notifyWatchdog({ env, command: 'systemd-notify-not-installed' }),
      logger: logger as never,
    });
    expect(await watchdog.tick()).to.equal(false);
    throwCheck = true;
    expect(await watchdog.tick()).to.equal(false);
    expect(errors.join('\n')).to.include('not found on PATH').and.include('probe broke');
    expect(() => new Watchdog({ intervalMs: 0, isHealthy: () => true })).to.throw(RangeError);
  });
});
