import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { openAuthStores } from '../device/auth/auth-stores.ts';
import { UserAdmin } from '../device/auth/user-admin.ts';
import { startServer } from '../device/server/start-server.ts';
import type { RunningServer } from '../device/server/server-deps.ts';
import {
  bearer, newSession, request, sampleResult, tempDir, testConfig, testDeps, tinyJpeg,
} from './support/https-fixtures.ts';

interface Received {
  ws: WebSocket;
  messages: any[];
  binary: Buffer[];
  closed: Promise<{ code: number; reason: string }>;
  next(type: string): Promise<any>;
}

function wsUrl(server: RunningServer, path = '/ws'): string {
  return server.url.replace(/^http/, 'ws') + path;
}

/** Opens a client and collects what it receives; rejects with the HTTP status of a refused upgrade. */
function connect(server: RunningServer, headers: Record<string, string>, path = '/ws'): Promise<Received> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(server, path), { headers, rejectUnauthorized: false });
    const messages: any[] = [];
    const binary: Buffer[] = [];
    const waiters: { type: string; resolve: (m: any) => void }[] = [];
    const closed = new Promise<{ code: number; reason: string }>((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return void binary.push(data as Buffer);
      const msg = JSON.parse(data.toString());
      messages.push(msg);
      for (const w of waiters.filter((x) => x.type === msg.type)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(msg);
      }
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => reject(Object.assign(new Error(`refused ${res.statusCode}`), { status: res.statusCode })));
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws, messages, binary, closed,
      next: (type) => new Promise((res) => {
        const seen = messages.find((m) => m.type === type && !m.consumed);
        if (seen) { seen.consumed = true; return res(seen); }
        waiters.push({ type, resolve: res });
      }),
    }));
  });
}

async function refusedStatus(server: RunningServer, headers: Record<string, string>, path = '/ws'): Promise<number> {
  try {
    const c = await connect(server, headers, path);
    c.ws.close();
    return 101;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

describe('server: WebSocket /ws', () => {
  const dir = tempDir();
  let server: RunningServer;
  let deps: ReturnType<typeof testDeps>;

  before(async () => {
    deps = testDeps(testConfig(dir.path, { allowedOrigins: ['https://ops.example'] }));
    server = await startServer(deps, {
      policy: { loginRateMax: 1000 },
      ws: { statusIntervalMs: 100, heartbeatMs: 150, maxBufferedBytes: 64 * 1024, dropAfterMs: 200 },
    });
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  it('greets a bearer client with hello, then sends results and periodic status', async () => {
    const s = await newSession(server.url, dir.path, 'viewer');
    const c = await connect(server, bearer(s));
    const hello = await c.next('hello');
    expect(hello).to.deep.equal({ type: 'hello', protocol: 1, model: deps.status().model, ep: 'cpu' });
    deps.bus.publish({ ...sampleResult(7, await tinyJpeg()), kind: 'detector', detections: [{ label: 'Leek', score: 0.8, box: [0.1, 0.2, 0.5, 0.9] }] });
    const result = await c.next('result');
    expect(result).to.have.all.keys('type', 'seq', 'capturedAt', 'kind', 'label', 'score', 'top', 'detections', 'latencyMs');
    expect(result.detections[0].box).to.deep.equal([0.1, 0.2, 0.5, 0.9]);
    const status = await c.next('status');
    expect(status).to.include.keys('status', 'pipeline', 'camera', 'model', 'ep');
    expect(JSON.stringify(status)).not.to.include('hunter2');
    expect(c.binary).to.have.length(0); // frames only after subscribing
    c.ws.close();
  });

  it('sends binary JPEG frames only to clients that subscribed', async () => {
    const s = await newSession(server.url, dir.path, 'viewer');
    const sub = await connect(server, bearer(s));
    const plain = await connect(server, bearer(s));
    await sub.next('hello');
    sub.ws.send(JSON.stringify({ type: 'subscribe', frames: true }));
    await new Promise((r) => setTimeout(r, 50));
    const jpeg = await tinyJpeg();
    deps.bus.publish(sampleResult(8, jpeg));
    await sub.next('result');
    await plain.next('result');
    await new Promise((r) => setTimeout(r, 50));
    expect(sub.binary.map((b) => b.equals(jpeg))).to.deep.equal([true]);
    expect(plain.binary).to.have.length(0);
    sub.ws.close();
    plain.ws.close();
  });

  it('accepts a browser session cookie from an allowed Origin', async () => {
    const s = await newSession(server.url, dir.path, 'viewer');
    const own = await connect(server, { cookie: s.cookie, origin: server.url });
    await own.next('hello');
    own.ws.close();
    const listed = await connect(server, { cookie: s.cookie, origin: 'https://ops.example' });
    await listed.next('hello');
    listed.ws.close();
  });

  it('refuses upgrades: no credentials 401, bad token 401, wrong Origin 403, cookie without Origin 403, token in URL 400', async () => {
    const s = await newSession(server.url, dir.path, 'viewer');
    expect(await refusedStatus(server, {})).to.equal(401);
    expect(await refusedStatus(server, { authorization: 'Bearer nope' })).to.equal(401);
    expect(await refusedStatus(server, { cookie: s.cookie, origin: 'https://evil.example' })).to.equal(403);
    expect(await refusedStatus(server, { ...bearer(s), origin: 'https://evil.example' })).to.equal(403);
    expect(await refusedStatus(server, { cookie: s.cookie })).to.equal(403);
    expect(await refusedStatus(server, {}, `/ws?access_token=${s.token}`)).to.equal(400);
    expect(await refusedStatus(server, bearer(s), '/other')).to.equal(404);
  });

  it('closes with 4401 on logout and on user removal (API or device console)', async () => {
    const a = await newSession(server.url, dir.path, 'viewer');
    const ca = await connect(server, bearer(a));
    await request(server.url, '/api/auth/logout', { method: 'POST', headers: bearer(a) });
    expect((await ca.closed).code).to.equal(4401);

    const admin = await newSession(server.url, dir.path, 'admin');
    const b = await newSession(server.url, dir.path, 'viewer');
    const cb = await connect(server, bearer(b));
    await request(server.url, `/api/users/${b.username}`, { method: 'DELETE', headers: bearer(admin) });
    expect((await cb.closed).code).to.equal(4401);

    const c = await newSession(server.url, dir.path, 'viewer');
    const cc = await connect(server, bearer(c));
    const cli = openAuthStores(dir.path); // what `vegkiosk users remove` does, from another process
    new UserAdmin(cli.users, cli.audit, cli.totpKey).remove(c.username, 'console');
    expect((await cc.closed).code).to.equal(4401);
  });

  it('closes with 4401 when the session expires', async () => {
    const short = tempDir();
    const srv = await startServer(testDeps(testConfig(short.path)), { policy: { sessionTtlS: 1 } });
    try {
      const s = await newSession(srv.url, short.path, 'viewer');
      const c = await connect(srv, bearer(s));
      expect((await c.closed).code).to.equal(4401);
    } finally {
      await srv.close();
      short.remove();
    }
  });

  it('drops a client that stops reading without holding up the others', async function () {
    this.timeout(20_000);
    // Its own server with a slow heartbeat, so only the send-buffer limit can be what drops the client.
    const own = tempDir();
    const d = testDeps(testConfig(own.path));
    const srv = await startServer(d, { ws: { heartbeatMs: 60_000, maxBufferedBytes: 1024 * 1024, dropAfterMs: 200 } });
    try {
      const s = await newSession(srv.url, own.path, 'viewer');
      const slow = await connect(srv, bearer(s));
      const fast = await connect(srv, bearer(s));
      for (const c of [slow, fast]) {
        await c.next('hello');
        c.ws.send(JSON.stringify({ type: 'subscribe', frames: true }));
      }
      await new Promise((r) => setTimeout(r, 50));
      // Stop reading: the kernel buffers fill, then the server's per-client buffer does.
      ((slow.ws as unknown as { _socket: Socket })._socket).pause();
      const frame = randomBytes(128 * 1024);
      let dropped = false;
      void slow.closed.then(() => { dropped = true; });
      let published = 0;
      // Bounded: at most 400 frames (50 MB), usually far fewer.
      while (published < 400 && !dropped) {
        d.bus.publish(sampleResult(++published, frame));
        await new Promise((r) => setTimeout(r, published % 20 === 0 ? 25 : 5));
      }
      await new Promise((r) => setTimeout(r, 100));
      const metrics = (await request(srv.url, '/metrics')).body.toString();
      expect(metrics).to.match(/vegkiosk_ws_clients_dropped_total 1\b/);
      expect(metrics).to.match(/vegkiosk_ws_clients 1\b/);
      // The fast client received every result while the slow one was skipped and dropped.
      expect(fast.messages.filter((m) => m.type === 'result')).to.have.length(published);
      fast.ws.close();
      slow.ws.terminate();
    } finally {
      await srv.close();
      own.remove();
    }
  });

  it('drops a client that stops answering pings', async () => {
    const s = await newSession(server.url, dir.path, 'viewer');
    const c = await connect(server, bearer(s));
    await c.next('hello');
    const before = (await request(server.url, '/metrics')).body.toString().match(/vegkiosk_ws_clients_dropped_total (\d+)/)![1];
    // A paused socket neither reads pings nor sends pongs — like a client that went away silently.
    ((c.ws as unknown as { _socket: Socket })._socket).pause();
    await new Promise((r) => setTimeout(r, 600));
    const after = (await request(server.url, '/metrics')).body.toString().match(/vegkiosk_ws_clients_dropped_total (\d+)/)![1];
    expect(Number(after)).to.be.greaterThan(Number(before));
    c.ws.terminate();
  });

  it('closes clients with 1001 when the server stops', async () => {
    const other = tempDir();
    const srv = await startServer(testDeps(testConfig(other.path)));
    const s = await newSession(srv.url, other.path, 'viewer');
    const c = await connect(srv, bearer(s));
    await srv.close();
    expect((await c.closed).code).to.equal(1001);
    other.remove();
  });
});
