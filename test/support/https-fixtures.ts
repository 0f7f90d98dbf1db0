import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import { generate } from 'otplib';
import { openAuthStores } from '../../device/auth/auth-stores.ts';
import { UserAdmin } from '../../device/auth/user-admin.ts';
import type { Role } from '../../device/store/users-store.ts';
import type { Config } from '../../device/config/config.ts';
import type { Prediction } from '../../device/inference/model.ts';
import { createLogger, type Logger } from '../../device/logger.ts';
import { ResultBus } from '../../device/pipeline/result-bus.ts';
import type { PipelineResult } from '../../device/results/pipeline-result.ts';
import type { ServiceStatus } from '../../device/pipeline/service-status.ts';
import type { ServerDeps } from '../../device/server/server-deps.ts';

export function tempDir(prefix = 'vegkiosk-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A full Config for tests: loopback, ephemeral port, TLS on, everything in `dataDir`. */
export function testConfig(dataDir: string, overrides: Partial<Config> = {}): Config {
  return {
    host: '127.0.0.1',
    port: 0,
    dataDir,
    tls: true,
    tlsCert: '',
    tlsKey: '',
    camera: 'synthetic',
    cameraWidth: 640,
    cameraHeight: 480,
    cameraFps: 5,
    cameraStallMs: 2000,
    model: join(dataDir, 'model.onnx'),
    detection: false,
    detector: join(dataDir, 'detector.onnx'),
    rest: false,
    restChange: 1,
    restRefreshMs: 3000,
    executionProviders: ['cpu'],
    inferenceThreads: 1,
    jwtSecret: '',
    allowedOrigins: [],
    logLevel: 'silent',
    mqttUrl: '',
    mqttUsername: '',
    mqttPassword: '',
    mqttCa: '',
    kioskId: '',
    mqttTopicPrefix: 'vegkiosk',
    mqttResults: 'changes',
    ...overrides,
  };
}

export const FIXED_STATUS: ServiceStatus = {
  status: 'ok',
  camera: {
    source: 'rtsp://admin:hunter2@10.0.0.9/stream', kind: 'rtsp', state: 'running',
    framesDelivered: 42, lastFrameAt: 1_700_000_000_000, restarts: 0, lastError: null,
  },
  model: { name: 'vegetables', version: '1', kind: 'classifier', labels: 15, sha256: 'ab'.repeat(32) },
  ep: 'cpu',
  pipeline: {
    state: 'running', fps: 12.5, framesProcessed: 100, framesDropped: 3,
    latencyMs: {
      preprocess: { p50: 3, p90: 4, p99: 5 },
      inference: { p50: 20, p90: 25, p99: 30 },
      total: { p50: 25, p90: 30, p99: 40 },
    },
    lastResultAt: 1_700_000_000_000,
    sinceLastResultMs: 80,
  },
  uptimeS: 12.4,
};

export const FIXED_PREDICTION: Prediction = {
  kind: 'classifier', label: 'Carrots', score: 0.9,
  top: [{ label: 'Carrots', score: 0.9 }, { label: 'Potato', score: 0.05 }], detections: [],
};

/** Captures log lines so tests can assert nothing secret was written. */
export function captureLogger(level = 'debug'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  return { logger: createLogger(level, sink), lines };
}

/** ServerDeps with a real ResultBus; classify decodes with sharp first, like the real model would. */
export function testDeps(config: Config, logger?: Logger): ServerDeps & { frame: Buffer | null } {
  const deps = {
    config,
    logger: logger ?? createLogger('silent'),
    bus: new ResultBus(),
    status: () => FIXED_STATUS,
    async classify(image: Buffer): Promise<Prediction> {
      await sharp(image).stats();
      return FIXED_PREDICTION;
    },
    frame: null as Buffer | null,
    latestFrameJpeg: () => deps.frame,
  };
  return deps;
}

export function sampleResult(seq: number, jpeg?: Buffer): PipelineResult {
  return { ...FIXED_PREDICTION, seq, capturedAt: Date.now(), latencyMs: { preprocess: 2, inference: 10, total: 14 }, jpeg };
}

export async function tinyJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 80, b: 20 } } }).jpeg().toBuffer();
}

export interface TestResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): any;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Buffer | string | object;
}

/** One request with Node's own client; self-signed certificates accepted (the server's own test cert). */
export function request(baseUrl: string, path: string, opts: RequestOptions = {}): Promise<TestResponse> {
  const url = new URL(path, baseUrl);
  const headers: Record<string, string | number> = { ...opts.headers };
  let payload: Buffer | undefined;
  if (opts.body !== undefined) {
    if (Buffer.isBuffer(opts.body)) payload = opts.body;
    else if (typeof opts.body === 'string') payload = Buffer.from(opts.body);
    else {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers['content-type'] ??= 'application/json';
    }
    headers['content-length'] = payload.length;
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: opts.method ?? 'GET', headers, rejectUnauthorized: false, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Enrols a user the way the device console does (its own store handles on the same files). */
export function enrollUser(dataDir: string, username: string, role: Role): string {
  const stores = openAuthStores(dataDir);
  const { otpauthUri } = new UserAdmin(stores.users, stores.audit, stores.totpKey).enroll(username, role, 'console');
  return new URL(otpauthUri).searchParams.get('secret') ?? '';
}

export async function totpCode(secret: string, offsetS = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetS });
}

export interface LoggedIn {
  token: string;
  cookie: string;
  role: string;
}

/** A fresh user of `role`, logged in; each call a new user so one-time codes never collide. */
let userCounter = 0;
export async function newSession(baseUrl: string, dataDir: string, role: Role): Promise<LoggedIn & { username: string; secret: string }> {
  const username = `${role}${++userCounter}`;
  const secret = enrollUser(dataDir, username, role);
  const res = await request(baseUrl, '/api/auth/login', { method: 'POST', body: { username, code: await totpCode(secret) } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.body}`);
  const cookie = String(res.headers['set-cookie']?.[0] ?? '').split(';')[0];
  return { token: res.json().token, cookie, role, username, secret };
}

export const bearer = (s: { token: string }) => ({ authorization: `Bearer ${s.token}` });
