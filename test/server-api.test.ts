import { availableParallelism } from 'node:os';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { metricsAllowed } from '../device/server/routes-api.ts';
import { publicCameraHealth } from '../device/server/redact.ts';
import { startServer } from '../device/server/start-server.ts';
import type { RunningServer } from '../device/server/server-deps.ts';
import {
  bearer, captureLogger, enrollUser, newSession, request, sampleResult, tempDir, testConfig, testDeps, tinyJpeg, totpCode,
} from './support/https-fixtures.ts';

describe('server: login and sessions', () => {
  const dir = tempDir();
  let server: RunningServer;
  let deps: ReturnType<typeof testDeps>;
  let logLines: string[];
  const secrets: string[] = [];

  before(async () => {
    const { logger, lines } = captureLogger('debug');
    logLines = lines;
    deps = testDeps(testConfig(dir.path), logger);
    server = await startServer(deps, { policy: { maxFailures: 3, loginRateMax: 1000 } });
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  const login = (body: object, headers: Record<string, string> = {}) =>
    request(server.url, '/api/auth/login', { method: 'POST', body, headers });

  it('logs in with a TOTP code: secure session cookie plus bearer token', async () => {
    const secret = enrollUser(dir.path, 'alice', 'technician');
    secrets.push(secret);
    const res = await login({ username: 'alice', code: await totpCode(secret) });
    expect(res.status).to.equal(200);
    const body = res.json();
    expect(body).to.have.all.keys('user', 'role', 'expiresAt', 'token');
    expect(body).to.include({ user: 'alice', role: 'technician' });
    const cookie = String(res.headers['set-cookie']?.[0]);
    expect(cookie).to.match(/^vegkiosk_session=ey/);
    expect(cookie).to.include('HttpOnly').and.include('Secure').and.include('SameSite=Strict');
    expect((await request(server.url, '/api/status', { headers: bearer(body) })).status).to.equal(200);
    expect((await request(server.url, '/api/status', { headers: { cookie: cookie.split(';')[0] } })).status).to.equal(200);
  });

  it('answers unknown user and wrong code with the same 401', async () => {
    const wrong = await login({ username: 'alice', code: '000000' });
    const unknown = await login({ username: 'nobody', code: '123456' });
    expect(wrong.status).to.equal(401);
    expect(unknown.status).to.equal(401);
    expect(unknown.body.toString()).to.equal(wrong.body.toString());
  });

  it('refuses a replayed code', async () => {
    const secret = enrollUser(dir.path, 'replay', 'viewer');
    const code = await totpCode(secret);
    expect((await login({ username: 'replay', code })).status).to.equal(200);
    expect((await login({ username: 'replay', code })).status).to.equal(401);
  });

  it('locks a username after repeated failures: 429 with Retry-After, even for the right code', async () => {
    const secret = enrollUser(dir.path, 'locky', 'viewer');
    for (let i = 0; i < 3; i++) expect((await login({ username: 'locky', code: '000000' })).status).to.equal(401);
    const res = await login({ username: 'locky', code: await totpCode(secret) });
    expect(res.status).to.equal(429);
    expect(Number(res.headers['retry-after'])).to.be.greaterThan(0);
    expect(res.json().error.code).to.equal('too_many_attempts');
  });

  it('validates login bodies: type, unknown fields, size', async () => {
    expect((await request(server.url, '/api/auth/login', { method: 'POST', body: 'username=a', headers: { 'content-type': 'text/plain' } })).status).to.equal(415);
    expect((await request(server.url, '/api/auth/login', { method: 'POST', body: '{"username":', headers: { 'content-type': 'application/json' } })).status).to.equal(400);
    expect((await login({ username: 'a', code: '1', admin: true })).status).to.equal(400);
    expect((await login({ username: 7, code: '1' })).status).to.equal(400);
    expect((await login({ username: 'a', code: 'x'.repeat(20_000) })).status).to.equal(413);
  });

  it('logout revokes the token server-side (bearer and cookie alike)', async () => {
    const s = await newSession(server.url, dir.path, 'viewer');
    expect((await request(server.url, '/api/auth/logout', { method: 'POST', headers: bearer(s) })).status).to.equal(204);
    expect((await request(server.url, '/api/status', { headers: bearer(s) })).status).to.equal(401);
    const c = await newSession(server.url, dir.path, 'viewer');
    const origin = server.url;
    const out = await request(server.url, '/api/auth/logout', { method: 'POST', headers: { cookie: c.cookie, origin } });
    expect(out.status).to.equal(204);
    expect(String(out.headers['set-cookie'])).to.include('Max-Age=0');
    expect((await request(server.url, '/api/status', { headers: { cookie: c.cookie } })).status).to.equal(401);
    expect((await request(server.url, '/api/status', { headers: bearer(c) })).status).to.equal(401);
  });

  it('GET /api/auth/session says whose the session is, and nobody after logout', async () => {
    const s = await newSession(server.url, dir.path, 'technician');
    const mine = await request(server.url, '/api/auth/session', { headers: { cookie: s.cookie } });
    expect(mine.status).to.equal(200);
    expect(mine.json()).to.include({ user: s.username, role: 'technician' });
    expect(String(mine.headers['cache-control'])).to.equal('no-store');
    expect(JSON.stringify(mine.json())).not.to.include(s.token);
    await request(server.url, '/api/auth/logout', { method: 'POST', headers: bearer(s) });
    const after = await request(server.url, '/api/auth/session', { headers: { cookie: s.cookie } });
    expect(after.status).to.equal(200);
    expect(after.json()).to.deep.equal({ user: null, role: null, expiresAt: null });
  });

  it('refuses expired tokens and tokens signed with another algorithm', async () => {
    const s = await newSession(server.url, dir.path, 'viewer');
    const key = Buffer.from(readFileSync(join(dir.path, 'jwt-secret.key'), 'utf8'), 'base64');
    const claims = jwt.decode(s.token) as jwt.JwtPayload;
    const expired = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 5 }, key, { algorithm: 'HS256' });
    const hs384 = jwt.sign({ ...claims }, key, { algorithm: 'HS384' });
    for (const token of [expired, hs384, 'not-a-jwt']) {
      expect((await request(server.url, '/api/status', { headers: bearer({ token }) })).status).to.equal(401);
    }
  });

  it('refuses tokens in the query string', async () => {
    const s = await newSession(server.url, dir.path, 'viewer');
    expect((await request(server.url, `/api/status?token=${s.token}`)).status).to.equal(400);
    expect((await request(server.url, `/api/results?x=${s.token}`, { headers: bearer(s) })).status).to.equal(400);
  });

  it('never logs codes or tokens', () => {
    const text = logLines.join('');
    expect(text).to.include('"event":"login"');
    expect(text).not.to.match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/);
    for (const s of secrets) expect(text).not.to.include(s);
  });
});

describe('server: per-IP login rate limit', () => {
  it('answers 429 with Retry-After once an address exceeds its login budget', async () => {
    const dir = tempDir();
    const server = await startServer(testDeps(testConfig(dir.path)), { policy: { loginRateMax: 3, loginRateWindowMs: 60_000 } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await request(server.url, '/api/auth/login', { method: 'POST', body: { username: `u${i}`, code: '000000' } });
        statuses.push(res.status);
        if (res.status === 429) {
          expect(Number(res.headers['retry-after'])).to.be.within(1, 60);
          expect(res.json().error.code).to.equal('rate_limited');
        }
      }
      expect(statuses).to.deep.equal([401, 401, 401, 429]);
    } finally {
      await server.close();
      dir.remove();
    }
  });
});

describe('server: API routes, roles and browser protections', () => {
  const dir = tempDir();
  let server: RunningServer;
  let deps: ReturnType<typeof testDeps>;
  let viewer: Awaited<ReturnType<typeof newSession>>;
  let tech: Awaited<ReturnType<typeof newSession>>;
  let admin: Awaited<ReturnType<typeof newSession>>;

  before(async () => {
    deps = testDeps(testConfig(dir.path, { allowedOrigins: ['https://ops.example'] }));
    server = await startServer(deps, { policy: { loginRateMax: 1000 } });
    viewer = await newSession(server.url, dir.path, 'viewer');
    tech = await newSession(server.url, dir.path, 'technician');
    admin = await newSession(server.url, dir.path, 'admin');
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  it('enforces roles: 401 without a session, 403 below the route role', async () => {
    expect((await request(server.url, '/api/status')).status).to.equal(401);
    expect((await request(server.url, '/api/audit', { headers: bearer(viewer) })).status).to.equal(403);
    expect((await request(server.url, '/api/users', { headers: bearer(tech) })).status).to.equal(403);
    const jpeg = await tinyJpeg();
    const classify = await request(server.url, '/api/classify', { method: 'POST', body: jpeg, headers: { ...bearer(viewer), 'content-type': 'image/jpeg' } });
    expect(classify.status).to.equal(403);
    expect(classify.json().error.code).to.equal('forbidden');
  });

  it('GET /api/status gives pipeline, camera, model, EP, fps, latency, temperatures, CPU, disk — no-store', async () => {
    const res = await request(server.url, '/api/status', { headers: bearer(viewer) });
    expect(res.status).to.equal(200);
    expect(res.json()).to.include.keys('pipeline', 'camera', 'model', 'ep', 'fps', 'latencyMs', 'temperatures', 'cpu', 'disk');
    expect(res.json().cpu.cores).to.equal(availableParallelism());
    expect(res.json().cpu.loadAvg).to.have.length(3);
    expect(res.body.toString()).not.to.include('hunter2');
    expect(res.headers['cache-control']).to.equal('no-store');
  });

  it('GET /api/results returns recent results newest first and validates limit', async () => {
    for (let i = 1; i <= 4; i++) deps.bus.publish(sampleResult(i, Buffer.from('jpeg')));
    const res = await request(server.url, '/api/results?limit=2', { headers: bearer(viewer) });
    expect(res.json().results.map((r: { seq: number }) => r.seq)).to.deep.equal([4, 3]);
    expect((await request(server.url, '/api/results?limit=abc', { headers: bearer(viewer) })).status).to.equal(400);
    expect((await request(server.url, '/api/results?limit=100000', { headers: bearer(viewer) })).status).to.equal(400);
  });

  it('GET /api/frames/latest.jpg: 404 before the first frame, then the JPEG', async () => {
    expect((await request(server.url, '/api/frames/latest.jpg', { headers: bearer(viewer) })).status).to.equal(404);
    deps.frame = await tinyJpeg();
    const res = await request(server.url, '/api/frames/latest.jpg', { headers: bearer(viewer) });
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('image/jpeg');
    expect(res.body.equals(deps.frame)).to.equal(true);
  });

  it('POST /api/classify accepts a raw JPEG and a multipart PNG', async () => {
    const raw = await request(server.url, '/api/classify', { method: 'POST', body: await tinyJpeg(), headers: { ...bearer(tech), 'content-type': 'image/jpeg' } });
    expect(raw.status).to.equal(200);
    expect(raw.json()).to.include({ label: 'Carrots', kind: 'classifier' }).and.to.have.property('ms');
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#0a0' } }).png().toBuffer();
    const boundary = 'x-boundary-42';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="leek.png"\r\nContent-Type: image/png\r\n\r\n`),
      png, Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const multi = await request(server.url, '/api/classify', { method: 'POST', body, headers: { ...bearer(tech), 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(multi.status).to.equal(200);
  });

  it('POST /api/classify rejects bad uploads by content, type and size', async () => {
    const post = (body: Buffer, type: string) =>
      request(server.url, '/api/classify', { method: 'POST', body, headers: { ...bearer(tech), 'content-type': type } });
    const jpeg = await tinyJpeg();
    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#00f' } }).gif().toBuffer();
    expect((await post(Buffer.from('<?php echo 1; ?>'), 'image/jpeg')).status).to.equal(415);
    expect((await post(jpeg.subarray(0, jpeg.length - 40), 'image/jpeg')).status).to.equal(415);
    expect((await post(gif, 'image/gif')).status).to.equal(415);
    expect((await post(jpeg, 'application/octet-stream')).status).to.equal(415);
    expect((await post(Buffer.alloc(0), 'image/png')).status).to.equal(400);
    expect((await post(Buffer.alloc(10 * 1024 * 1024 + 1), 'image/jpeg')).status).to.equal(413);
    const noField = Buffer.from('--b\r\nContent-Disposition: form-data; name="other"\r\n\r\nx\r\n--b--\r\n');
    expect((await post(noField, 'multipart/form-data; boundary=b')).status).to.equal(400);
  });

  it('admin manages users: enrolment returns the otpauth URI once; removal revokes at once', async () => {
    const created = await request(server.url, '/api/users', { method: 'POST', body: { username: 'newbie', role: 'viewer' }, headers: bearer(admin) });
    expect(created.status).to.equal(201);
    const uri = created.json().otpauthUri as string;
    expect(uri).to.match(/^otpauth:\/\/totp\/vegkiosk:newbie\?secret=/);
    const list = await request(server.url, '/api/users', { headers: bearer(admin) });
    expect(list.body.toString()).not.to.include('secret').and.not.to.include('totp');
    expect(list.json().users.map((u: { username: string }) => u.username)).to.include('newbie');
    const secret = new URL(uri).searchParams.get('secret')!;
    const login = await request(server.url, '/api/auth/login', { method: 'POST', body: { username: 'newbie', code: await totpCode(secret) } });
    expect(login.status).to.equal(200);
    expect((await request(server.url, '/api/users', { method: 'POST', body: { username: 'newbie' }, headers: bearer(admin) })).status).to.equal(409);
    expect((await request(server.url, '/api/users', { method: 'POST', body: { username: 'x', role: 'root' }, headers: bearer(admin) })).status).to.equal(400);
    expect((await request(server.url, '/api/users/newbie', { method: 'DELETE', headers: bearer(admin) })).status).to.equal(204);
    expect((await request(server.url, '/api/status', { headers: bearer(login.json()) })).status).to.equal(401);
    expect((await request(server.url, '/api/users/newbie', { method: 'DELETE', headers: bearer(admin) })).status).to.equal(404);
  });

  it('GET /api/audit shows logins, failures and user changes to admins', async () => {
    await request(server.url, '/api/auth/login', { method: 'POST', body: { username: 'ghost', code: '111111' } });
    const res = await request(server.url, '/api/audit?limit=200', { headers: bearer(admin) });
    const events = res.json().entries.map((e: { event: string }) => e.event);
    expect(events).to.include.members(['login', 'login_failed', 'user_added', 'user_removed']);
  });

  it('refuses cross-site state changes: wrong Origin, or a cookie without Origin (CSRF)', async () => {
    const body = { username: 'csrf', role: 'admin' };
    const evil = await request(server.url, '/api/users', { method: 'POST', body, headers: { cookie: admin.cookie, origin: 'https://evil.example' } });
    expect(evil.status).to.equal(403);
    const noOrigin = await request(server.url, '/api/users', { method: 'POST', body, headers: { cookie: admin.cookie } });
    expect(noOrigin.status).to.equal(403);
    const own = await request(server.url, '/api/users', { method: 'POST', body, headers: { cookie: admin.cookie, origin: server.url } });
    expect(own.status).to.equal(201);
    const evilLogin = await request(server.url, '/api/auth/login', { method: 'POST', body: { username: 'a', code: '1' }, headers: { origin: 'https://evil.example' } });
    expect(evilLogin.status).to.equal(403);
  });

  it('answers CORS only for allow-listed origins', async () => {
    const ok = await request(server.url, '/api/status', { method: 'OPTIONS', headers: { origin: 'https://ops.example', 'access-control-request-method': 'GET' } });
    expect(ok.status).to.equal(204);
    expect(ok.headers['access-control-allow-origin']).to.equal('https://ops.example');
    expect(ok.headers['access-control-allow-credentials']).to.equal('true');
    const bad = await request(server.url, '/api/status', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(bad.status).to.equal(403);
    expect(bad.headers['access-control-allow-origin']).to.equal(undefined);
  });

  it('serves Prometheus metrics to loopback clients', async () => {
    deps.bus.publish(sampleResult(99));
    const res = await request(server.url, '/metrics');
    expect(res.status).to.equal(200);
    const text = res.body.toString();
    for (const name of ['vegkiosk_fps', 'vegkiosk_inference_seconds_bucket', 'vegkiosk_frames_dropped_total', 'vegkiosk_ws_clients', 'vegkiosk_login_failures_total']) {
      expect(text).to.include(name);
    }
  });

  it('shows camera health to clients without credentials in the source, the reason or the error', () => {
    const shown = publicCameraHealth({
      source: 'rtsp://t0ken@cam/live', kind: 'rtsp', state: 'restarting', framesDelivered: 0, lastFrameAt: null, restarts: 1,
      lastError: 'rtsp://admin:p@ss@cam/live: Connection refused', reason: 'configured: VEGKIOSK_CAMERA=rtsp://cam/live?password=hunter2',
    });
    expect(JSON.stringify(shown)).not.to.match(/t0ken|ss@|hunter2/);
    expect(shown.reason).to.equal('configured: VEGKIOSK_CAMERA=rtsp://cam/live?password=***');
  });

  it('refuses metrics to LAN clients without a bearer session (address rule)', () => {
    const session = { username: 'v', uid: 'u', role: 'viewer' as const, jti: 'j', exp: 0 };
    expect(metricsAllowed('127.0.0.1', null, undefined)).to.equal(true);
    expect(metricsAllowed('::ffff:127.0.0.1', null, undefined)).to.equal(true);
    expect(metricsAllowed('::1', null, undefined)).to.equal(true);
    expect(metricsAllowed('192.168.1.20', null, undefined)).to.equal(false);
    expect(metricsAllowed('192.168.1.20', session, 'bearer')).to.equal(true);
    // SPEC: loopback or bearer; a browser's cookie session is not a scraper
    expect(metricsAllowed('192.168.1.20', session, 'cookie')).to.equal(false);
  });
});
