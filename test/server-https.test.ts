import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { startServer, type StartOptions } from '../device/server/start-server.ts';
import type { RunningServer } from '../device/server/server-deps.ts';
import { captureLogger, request, tempDir, testConfig, testDeps } from './support/https-fixtures.ts';
import { requirePrograms } from './support/requires.ts';

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

/** What `openssl s_client` saw: the protocol and suite agreed on, or why the handshake ended. */
interface Handshake {
  /** The negotiated suite; null when the handshake failed. */
  cipher: string | null;
  protocol: string | null;
  output: string;
}

/**
 * One handshake by the openssl CLI against 127.0.0.1:port, as an outside scanner makes it. Spawned
 * asynchronously: the server runs in this process and must keep answering while the client waits.
 */
function sClient(port: number, args: string[]): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      const cipher = /Cipher is (\S+)/.exec(output)?.[1];
      const protocol = /Protocol\s*: (\S+)/.exec(output)?.[1];
      const agreed = code === 0 && cipher !== undefined && cipher !== '(NONE)';
      resolve({ cipher: agreed ? cipher : null, protocol: agreed ? protocol ?? null : null, output });
    });
  });
}

/** The server's own refusal (a fatal alert it sent), as opposed to a client that never offered the suite. */
const SERVER_REFUSED = /alert handshake failure|alert protocol version|no shared cipher/i;

/**
 * Every suite the server agrees to, found the way sslscan and testssl.sh enumerate: offer everything
 * the client knows, note what the server picks, drop it and offer the rest again until it refuses.
 */
async function acceptedSuites(port: number, protocol: '-tls1_2' | '-tls1_3', offer: string[]): Promise<string[]> {
  const accepted: string[] = [];
  let remaining = [...offer];
  while (remaining.length) {
    const list = remaining.join(':');
    const h = await sClient(port, protocol === '-tls1_2' ? [protocol, '-cipher', `${list}:@SECLEVEL=0`] : [protocol, '-ciphersuites', list]);
    if (!h.cipher) {
      expect(h.output, 'the enumeration must end with the server refusing').to.match(SERVER_REFUSED);
      break;
    }
    accepted.push(h.cipher);
    remaining = remaining.filter((c) => c !== h.cipher);
  }
  return accepted.sort();
}

/** TLS 1.2 suites this openssl CLI can offer for a key type (aECDSA, aRSA), weak ones included. */
function clientSuites(authentication: string): string[] {
  const r = spawnSync('openssl', ['ciphers', '-tls1_2', `${authentication}:@SECLEVEL=0`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ciphers failed: ${r.stderr}`);
  return r.stdout.trim().split(':');
}

describe('server: TLS profile as an outside scanner sees it (Mozilla intermediate, ECDHE only)', function () {
  this.timeout(60_000);
  const dirs: { remove(): void }[] = [];
  const servers: RunningServer[] = [];
  let ecdsa: RunningServer;
  let rsa: RunningServer;

  // Registered before anything starts, so a failure half-way through `before` still stops and removes all.
  after(async () => {
    for (const server of servers) await server.close();
    for (const dir of dirs) dir.remove();
  });

  before(async function () {
    // The client is the openssl CLI, as a technician's scan would be.
    requirePrograms(this, 'openssl');
    const selfSigned = tempDir();
    dirs.push(selfSigned);
    ecdsa = await startServer(testDeps(testConfig(selfSigned.path)));
    servers.push(ecdsa);
    // An operator's RSA certificate: the ECDHE-RSA suites, and the static-RSA and DHE ones that must
    // not be offered, can only be negotiated with an RSA key.
    const operator = tempDir();
    dirs.push(operator);
    const cert = join(operator.path, 'rsa-cert.pem');
    const key = join(operator.path, 'rsa-key.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
      '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`openssl could not make the RSA test certificate: ${made.stderr}`);
    rsa = await startServer(testDeps(testConfig(join(operator.path, 'data'), { tlsCert: cert, tlsKey: key })));
    servers.push(rsa);
  });

  it('refuses TLS 1.2 ECDHE-ECDSA-AES128-SHA (CBC, SHA-1 MAC) and agrees to ECDHE-ECDSA-AES128-GCM-SHA256', async () => {
    const refused = await sClient(ecdsa.port, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0']);
    expect(refused.cipher).to.equal(null);
    expect(refused.output).to.match(SERVER_REFUSED);
    const allowed = await sClient(ecdsa.port, ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
    expect([allowed.protocol, allowed.cipher]).to.deep.equal(['TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
  });

  it('refuses TLS 1.1 and TLS 1.0 (the client offers them at security level 0)', async () => {
    for (const version of ['-tls1_1', '-tls1']) {
      const h = await sClient(ecdsa.port, [version, '-cipher', 'DEFAULT:@SECLEVEL=0']);
      expect(h.cipher, version).to.equal(null);
      expect(h.output, version).to.match(/alert protocol version/i);
    }
  });

  it('refuses each family the scanner reported: CBC with SHA-1, SHA-256 and SHA-384 MACs, CCM, CCM8, ARIA', async () => {
    const families = {
      'CBC SHA-1': 'ECDHE-ECDSA-AES256-SHA',
      'CBC SHA-256': 'ECDHE-ECDSA-AES128-SHA256',
      'CBC SHA-384': 'ECDHE-ECDSA-AES256-SHA384',
      CCM: 'ECDHE-ECDSA-AES128-CCM',
      CCM8: 'ECDHE-ECDSA-AES128-CCM8',
      ARIA: 'ECDHE-ECDSA-ARIA128-GCM-SHA256',
    };
    for (const [family, suite] of Object.entries(families)) {
      expect(clientSuites('aECDSA'), `this openssl can offer ${suite}`).to.include(suite);
      const h = await sClient(ecdsa.port, ['-tls1_2', '-cipher', `${suite}:@SECLEVEL=0`]);
      expect(h.cipher, `${family} (${suite})`).to.equal(null);
      expect(h.output, `${family} (${suite})`).to.match(SERVER_REFUSED);
    }
  });

  it('with its own P-256 key agrees in TLS 1.2 only to the three ECDHE-ECDSA AEAD suites', async () => {
    expect(await acceptedSuites(ecdsa.port, '-tls1_2', clientSuites('aECDSA'))).to.deep.equal(
      ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']);
  });

  it("with an operator's RSA key agrees in TLS 1.2 only to the three ECDHE-RSA AEAD suites (no static RSA, no DHE)", async () => {
    const offer = clientSuites('aRSA');
    expect(offer, 'the offer includes static-RSA and DHE suites').to.include.members(['AES128-GCM-SHA256', 'DHE-RSA-AES128-GCM-SHA256']);
    expect(await acceptedSuites(rsa.port, '-tls1_2', offer)).to.deep.equal(
      ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']);
  });

  it('agrees to TLS 1.3 with its AEAD suites', async () => {
    const offer = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
    expect(await acceptedSuites(ecdsa.port, '-tls1_3', offer)).to.deep.equal([...offer].sort());
  });
});
