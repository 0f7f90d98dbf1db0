import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { startServer, type StartOptions } from '../device/server/start-server.ts';
import type { RunningServer } from '../device/server/server-deps.ts';
import { captureLogger, request, tempDir, testConfig, testDeps } from './support/https-fixtures.ts';

describe('server: HTTPS and /healthz', () => {
  const dir = tempDir();
  let server: RunningServer;
  let logLines: string[];

  before(async () => {
    const { logger, lines } = captureLogger('info');
    logLines = lines;
    server = await startServer(testDeps(testConfig(dir.path), logger));
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  it('creates a private data directory (0700) for keys, certificate and users', async () => {
    const fresh = tempDir();
    const dataDir = join(fresh.path, 'nested', 'data');
    const srv = await startServer(testDeps(testConfig(dataDir, { jwtSecret: 'k'.repeat(40) })));
    await srv.close();
    expect(statSync(dataDir).mode & 0o777).to.equal(0o700);
    fresh.remove();
  });

  it('creates a self-signed certificate in <dataDir>/tls with a 0600 key and logs its fingerprint', () => {
    const keyMode = statSync(join(dir.path, 'tls', 'key.pem')).mode & 0o777;
    expect(keyMode).to.equal(0o600);
    const cert = new X509Certificate(readFileSync(join(dir.path, 'tls', 'cert.pem')));
    expect(cert.subjectAltName).to.include('IP Address:127.0.0.1');
    expect(logLines.join('')).to.include(cert.fingerprint256);
  });

  it('serves HTTPS verifiable with the generated certificate as CA', async () => {
    const ca = readFileSync(join(dir.path, 'tls', 'cert.pem'));
    const status = await new Promise<number>((resolve, reject) => {
      https.get(`${server.url}/healthz`, { ca, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); })
        .on('error', reject);
    });
    expect(server.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(status).to.equal(200);
  });

  it('GET /healthz answers the SPEC shape without secrets', async () => {
    const res = await request(server.url, '/healthz');
    expect(res.status).to.equal(200);
    const body = res.json();
    expect(body).to.have.all.keys('status', 'camera', 'model', 'ep', 'uptimeS');
    expect(body.status).to.equal('ok');
    expect(body.ep).to.equal('cpu');
    expect(body.uptimeS).to.equal(12);
    expect(res.body.toString()).not.to.include('hunter2');
    expect(res.headers['cache-control']).to.equal('no-store');
  });

  it('answers unknown routes with a JSON error and no stack trace', async () => {
    const res = await request(server.url, '/nope');
    expect(res.status).to.equal(404);
    expect(res.json()).to.deep.equal({ error: { code: 'not_found', message: 'no such route' } });
    expect(res.body.toString()).not.to.match(/at .*\.ts/);
  });

  it('sends the security headers (CSP without inline script, HSTS, frame-ancestors, nosniff, referrer)', async () => {
    const res = await request(server.url, '/healthz');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).to.include("script-src 'self'");
    expect(csp).not.to.include('unsafe-inline');
    expect(csp).to.include("frame-ancestors 'none'");
    // The page may talk to its own kiosk only: no ws:/wss: wildcard that would reach any host.
    expect(csp).to.include("connect-src 'self';");
    expect(res.headers['strict-transport-security']).to.match(/max-age=\d+/);
    expect(res.headers['x-content-type-options']).to.equal('nosniff');
    expect(res.headers['referrer-policy']).to.equal('no-referrer');
    expect(res.headers['x-frame-options']).to.equal('DENY');
  });
});

describe('server: transport configuration', () => {
  it('refuses plain HTTP on a non-loopback host with a clear config error', async () => {
    const dir = tempDir();
    try {
      const deps = testDeps(testConfig(dir.path, { tls: false, host: '0.0.0.0' }));
      let error: Error | null = null;
      await startServer(deps).catch((err: Error) => { error = err; });
      expect(String(error)).to.match(/VEGKIOSK_TLS.*loopback/);
    } finally {
      dir.remove();
    }
  });

  it('serves plain HTTP on loopback when VEGKIOSK_TLS=off', async () => {
    const dir = tempDir();
    const server = await startServer(testDeps(testConfig(dir.path, { tls: false })));
    try {
      expect(server.url).to.match(/^http:\/\//);
      expect((await request(server.url, '/healthz')).status).to.equal(200);
    } finally {
      await server.close();
      dir.remove();
    }
  });

  it("uses the operator's VEGKIOSK_TLS_CERT/KEY when given", async () => {
    const first = tempDir();
    const second = tempDir();
    const a = await startServer(testDeps(testConfig(first.path)));
    await a.close();
    const cert = join(first.path, 'tls', 'cert.pem');
    const server = await startServer(testDeps(testConfig(second.path, { tlsCert: cert, tlsKey: join(first.path, 'tls', 'key.pem') })));
    try {
      const ca = readFileSync(cert);
      const status = await new Promise<number>((resolve, reject) => {
        https.get(`${server.url}/healthz`, { ca, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); })
          .on('error', reject);
      });
      expect(status).to.equal(200);
    } finally {
      await server.close();
      first.remove();
      second.remove();
    }
  });

  it('refuses a certificate without its key', async () => {
    const dir = tempDir();
    try {
      let error: Error | null = null;
      await startServer(testDeps(testConfig(dir.path, { tlsCert: '/nonexistent.pem' }))).catch((err: Error) => { error = err; });
      expect(String(error)).to.include('VEGKIOSK_TLS_KEY');
    } finally {
      dir.remove();
    }
  });
});

describe('server: slow clients', () => {
  it('cuts a client that never finishes its request headers (408, connection closed)', async function () {
    this.timeout(15_000);
    const dir = tempDir();
    const server = await startServer(testDeps(testConfig(dir.path)), { timeouts: { headersTimeout: 500, requestTimeout: 1_000 } });
    try {
      const { connect } = await import('node:tls');
      const socket = connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false });
      await new Promise((r) => socket.once('secureConnect', r));
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '); // and then nothing more
      const answer = await new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (d: Buffer) => { text += d.toString(); });
        socket.on('close', () => resolve(text));
        socket.on('error', () => resolve(text));
      });
      expect(answer).to.match(/^HTTP\/1\.1 408/);
    } finally {
      await server.close();
      dir.remove();
    }
  });

  /** A raw TLS client on a server with the given timeouts: what it sends, then everything until the server closes. */
  async function closedAfter(timeouts: StartOptions['timeouts'], send: (write: (text: string) => void) => void): Promise<string> {
    const dir = tempDir();
    const server = await startServer(testDeps(testConfig(dir.path)), { timeouts });
    try {
      const { connect } = await import('node:tls');
      const socket = connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false });
      await new Promise((r) => socket.once('secureConnect', r));
      let text = '';
      const closed = new Promise<string>((resolve) => {
        socket.on('data', (d: Buffer) => { text += d.toString(); });
        socket.on('close', () => resolve(text));
        socket.on('error', () => resolve(text));
      });
      send((t) => socket.write(t));
      return await closed;
    } finally {
      await server.close();
      dir.remove();
    }
  }

  it('cuts a client that sends its headers but never its body (requestTimeout: 408, connection closed)', async function () {
    this.timeout(15_000);
    const answer = await closedAfter({ headersTimeout: 500, requestTimeout: 1_000 }, (write) => {
      write('POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user');
    });
    expect(answer).to.match(/^HTTP\/1\.1 408/);
  });

  it('closes a connection that never sends a byte (idle socket timeout)', async function () {
    this.timeout(15_000);
    // headers and request limits far away, so only the idle timeout can close it
    const answer = await closedAfter({ headersTimeout: 60_000, requestTimeout: 120_000, socketTimeout: 500 }, () => {});
    expect(answer).to.equal('');
  });

  it('closes an idle keep-alive connection after its request was answered (keepAliveTimeout)', async function () {
    // under Node's own 5 s keep-alive, so the test fails unless the configured 0.5 s applies
    this.timeout(4_000);
    const answer = await closedAfter({ headersTimeout: 60_000, requestTimeout: 120_000, socketTimeout: 120_000, keepAliveTimeout: 500 }, (write) => {
      write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    });
    expect(answer).to.match(/^HTTP\/1\.1 200/);
    expect(answer).to.match(/keep-alive/i);
  });
});

describe('server: dashboard files', () => {
  it('serves the dashboard with the security headers, and nothing outside it', async () => {
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const dir = tempDir();
    const root = join(dir.path, 'dashboard');
    mkdirSync(root);
    writeFileSync(join(root, 'index.html'), '<!doctype html><script src="app.js"></script>');
    writeFileSync(join(root, 'app.js'), 'console.log(1)');
    writeFileSync(join(root, 'notes.ts'), 'secret source');
    writeFileSync(join(root, '.env'), 'X=1');
    writeFileSync(join(dir.path, 'outside.html'), 'outside');
    const server = await startServer(testDeps(testConfig(join(dir.path, 'data'))), { staticRoot: root });
    try {
      const index = await request(server.url, '/');
      expect(index.status).to.equal(200);
      expect(index.headers['content-type']).to.match(/^text\/html/);
      expect(index.headers['content-security-policy']).to.include("script-src 'self'");
      expect((await request(server.url, '/app.js')).headers['content-type']).to.match(/javascript/);
      for (const path of ['/notes.ts', '/.env', '/../outside.html', '/%2e%2e/outside.html', '/%E0%A4%A']) {
        expect((await request(server.url, path)).status, path).to.equal(404);
      }
    } finally {
      await server.close();
      dir.remove();
    }
  });
});
