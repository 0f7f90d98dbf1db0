import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from 'otplib';
import { WebSocket, type RawData } from 'ws';

/**
 * A real `vegkiosk serve` process driven from outside, the way a kiosk sees it: spawned with
 * environment variables, reached over HTTPS and WebSockets on loopback, users enrolled with the real
 * `vegkiosk enroll` CLI. Used by scripts/soak.ts and the fault tests (test/faults-*.test.ts).
 */

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = join(PACKAGE_ROOT, 'bin/vegkiosk.js');

/** The caller's environment without any VEGKIOSK_* setting, plus the given ones. */
export function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VEGKIOSK_')));
  return { ...base, ...env };
}

/**
 * The JSON lines (pino) a child writes on stdout, kept as parsed objects, with a way to wait for one.
 * `max` bounds what is kept, so a months-long soak does not grow the harness itself.
 */
export class JsonLogLines {
  readonly lines: Record<string, unknown>[] = [];
  private waiters: { test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];

  constructor(child: ChildProcess, private readonly max = Infinity) {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text);
        } catch {
          continue;
        }
        if (this.lines.length >= this.max) this.lines.splice(0, Math.ceil(this.max / 5));
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.test(line) ? (w.resolve(line), false) : true));
      }
    });
  }

  /** The first line (past or future) that passes `test`. */
  waitFor(test: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const found = this.lines.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
}

/** A port that was free a moment ago on 127.0.0.1 (the config does not accept 0). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** `vegkiosk enroll <user> --role <role>` as a technician would run it; returns the TOTP secret from the printed URI. */
export function enrollWithCli(dataDir: string, user: string, role = 'viewer'): string {
  const r = spawnSync(process.execPath, [CLI, 'enroll', user, '--role', role], {
    env: cleanEnv({ VEGKIOSK_DATA_DIR: dataDir, VEGKIOSK_LOG_LEVEL: 'warn' }), encoding: 'utf8', timeout: 60_000,
  });
  const uri = /otpauth:\/\/totp\/\S+/.exec(r.stdout ?? '')?.[0];
  if (r.status !== 0 || !uri) throw new Error(`vegkiosk enroll ${user} failed (exit ${r.status}): ${r.stderr}`);
  const secret = new URL(uri).searchParams.get('secret');
  if (!secret) throw new Error(`otpauth URI from enroll has no secret: ${uri}`);
  return secret;
}

export interface HttpAnswer {
  status: number;
  body: any;
}

export interface ServiceOptions {
  dataDir: string;
  model: string;
  camera: string;
  /** Further VEGKIOSK_* settings (camera size and rate, log level…). */
  env?: Record<string, string>;
  /** How long to wait for "server listening" (model load included). */
  startTimeoutMs?: number;
}

export class LiveService {
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly log: JsonLogLines;
  private ca: Buffer | null = null;

  private constructor(readonly child: ChildProcess, readonly port: number, readonly dataDir: string) {
    this.exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
    this.log = new JsonLogLines(child, 5000);
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (this.stderr = (this.stderr + c).slice(-20_000)));
  }

  /** The service's recent log lines, parsed. */
  get logs(): Record<string, unknown>[] {
    return this.log.lines;
  }

  static async start(opts: ServiceOptions): Promise<LiveService> {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve'], {
      env: cleanEnv({
        VEGKIOSK_DATA_DIR: opts.dataDir, VEGKIOSK_MODEL: opts.model, VEGKIOSK_CAMERA: opts.camera,
        VEGKIOSK_PORT: String(port), VEGKIOSK_HOST: '127.0.0.1', ...opts.env,
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const service = new LiveService(child, port, opts.dataDir);
    try {
      await service.waitForLog((l) => l.msg === 'server listening', opts.startTimeoutMs ?? 60_000);
    } catch (err) {
      // The caller never gets a handle to stop it with: never leave it running.
      child.kill('SIGKILL');
      throw err;
    }
    return service;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Resolves with the first log line (past or future) that passes; rejects on timeout or exit. */
  waitForLog(test: (l: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)), timeoutMs);
      void this.log.waitFor(test).then((l) => {
        clearTimeout(timer);
        done(l);
      });
      void this.exited.then((e) => {
        clearTimeout(timer);
        fail(new Error(`vegkiosk serve exited (${JSON.stringify(e)}) before the expected log line; stderr: ${this.stderr.slice(-2000)}`));
      });
    });
  }

  /** The service's own self-signed certificate (its SAN names 127.0.0.1): the harness trusts exactly it. */
  private cert(): Buffer {
    this.ca ??= readFileSync(join(this.dataDir, 'tls/cert.pem'));
    return this.ca;
  }

  /** One HTTPS request; `from` picks the loopback source address (127.0.0.x), i.e. which client IP the service sees. */
  request(method: string, path: string, opts: { token?: string; body?: object; from?: string } = {}): Promise<HttpAnswer> {
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: Record<string, string | number> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
    return new Promise((done, fail) => {
      const req = https.request(`${this.url}${path}`, {
        method, headers, ca: this.cert(), agent: false, timeout: 10_000, localAddress: opts.from,
      }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // Prometheus text and the like stay strings.
          }
          done({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} took over 10 s`)));
      req.on('error', fail);
      req.end(payload);
    });
  }

  /** Polls /healthz until `test` passes; the error shows the last answer. */
  async pollHealth(test: (h: any) => boolean, timeoutMs: number, what: string): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown = null;
    while (Date.now() < deadline) {
      last = (await this.request('GET', '/healthz')).body;
      if (test(last)) return last;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`/healthz never showed ${what} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
  }

  /** Logs in with the current TOTP code (otplib), returning the bearer token. */
  async login(user: string, secret: string): Promise<string> {
    const res = await this.request('POST', '/api/auth/login', { body: { username: user, code: await generate({ secret }) } });
    if (res.status !== 200) throw new Error(`login as ${user} refused: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.token as string;
  }

  connect(token: string, frames: boolean): Promise<WsClient> {
    return WsClient.open(this.url.replace(/^https/, 'wss') + '/ws', token, this.cert(), frames);
  }

  /** Sends a signal and waits for the exit (bounded). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, fail) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        fail(new Error(`vegkiosk serve did not exit within ${timeoutMs} ms of ${signal}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** One authenticated WebSocket client that reads everything it is sent. */
export class WsClient {
  results = 0;
  frames = 0;
  frameBytes = 0;
  lastResult: Record<string, unknown> | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((done) => ws.on('close', (code, reason) => done({ code, reason: reason.toString() })));
    // Errors end in 'close' anyway; without a listener a late one would crash the harness.
    ws.on('error', () => {});
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) {
        this.frames++;
        this.frameBytes += (data as Buffer).length;
        return;
      }
      const msg = JSON.parse(data.toString()) as Record<string, unknown>;
      if (msg.type === 'result') {
        this.results++;
        this.lastResult = msg;
      }
    });
  }

  static open(url: string, token: string, ca: Buffer, frames: boolean): Promise<WsClient> {
    return new Promise((done, fail) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, ca });
      const client = new WsClient(ws);
      ws.once('unexpected-response', (_req, res) => fail(new Error(`WebSocket upgrade refused: ${res.statusCode}`)));
      ws.once('error', fail);
      ws.once('open', () => {
        if (frames) ws.send(JSON.stringify({ type: 'subscribe', frames: true }));
        done(client);
      });
    });
  }

  close(): Promise<{ code: number; reason: string }> {
    this.ws.close(1000, 'done');
    return this.closed;
  }
}
