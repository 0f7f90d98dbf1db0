import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { spawnSync } from 'node:child_process';
import { CLI, cliEnv, freePort, LogWatcher, runCli, startCli } from './support/cli.ts';

function getJson(url: string, ca: Buffer): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    get(url, { ca, checkServerIdentity: () => undefined }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('vegkiosk serve (real process, HTTPS on 127.0.0.1)', function () {
  this.timeout(90_000);
  let dir: string;
  let modelPath: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-serve-'));
    modelPath = (await writeTestClassifier(join(dir, 'model'))).onnxPath;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('starts on defaults, says which camera and provider it chose, answers /healthz, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const dataDir = join(dir, 'data');
    const child = startCli(['serve'], { VEGKIOSK_MODEL: modelPath, VEGKIOSK_DATA_DIR: dataDir, VEGKIOSK_PORT: String(port), VEGKIOSK_CAMERA: 'synthetic' });
    const exited = exitOf(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c) => (stderr += c));
    const log = new LogWatcher(child);
    try {
      const ready = await Promise.race([
        log.waitFor((l) => l.msg === 'first frame inferred; ready'),
        exited.then((e) => { throw new Error(`serve exited early (${JSON.stringify(e)}): ${stderr}`); }),
      ]);
      expect(ready.ep).to.equal('cpu');
      expect(ready.camera).to.equal('synthetic');
      const cameraLine = await log.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('camera: '));
      expect(cameraLine.reason).to.match(/VEGKIOSK_CAMERA=synthetic/);
      expect((await log.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('execution provider: '))).ep).to.equal('cpu');

      const ca = readFileSync(join(dataDir, 'tls/cert.pem'));
      const health = await getJson(`https://127.0.0.1:${port}/healthz`, ca);
      expect(health.status).to.equal(200);
      expect(health.body.status).to.equal('ok');
      expect(health.body.ep).to.equal('cpu');
      expect((health.body.camera as { kind: string }).kind).to.equal('synthetic');
      expect((health.body.model as { name: string }).name).to.equal('test-classifier');
      expect(JSON.stringify(health.body)).not.to.match(/secret|BEGIN|PRIVATE/i);
    } finally {
      child.kill('SIGTERM');
    }
    const { code } = await exited;
    expect(code).to.equal(0);
    expect(log.lines.some((l) => l.msg === 'stopped')).to.equal(true);
    expect(stderr).to.equal('');
  });

  it('refuses a model whose SHA-256 differs from its manifest, in one line, exit 1', async () => {
    const copy = join(dir, 'swapped');
    const written = await writeTestClassifier(copy);
    const manifest = JSON.parse(readFileSync(written.manifestPath, 'utf8'));
    manifest.sha256 = '0'.repeat(64);
    writeFileSync(written.manifestPath, JSON.stringify(manifest));
    const r = runCli(['serve'], { VEGKIOSK_MODEL: written.onnxPath, VEGKIOSK_DATA_DIR: join(dir, 'data2'), VEGKIOSK_PORT: String(await freePort()) });
    expect(r.status).to.equal(1);
    const errLines = r.stderr.trim().split('\n');
    expect(errLines).to.have.length(1);
    expect(errLines[0]).to.match(/SHA-256/i);
    expect(r.stderr).not.to.match(/\n\s+at /);
  });

  // Both fail after the model's worker thread and the camera have started; before, serve printed the
  // error and then ran on with no server until systemd's start timeout (and a bad certificate exited 1).
  it('exits 78 naming VEGKIOSK_TLS_CERT when the certificate is not PEM, rather than running on', async () => {
    const notPem = join(dir, 'not-a-cert.pem');
    writeFileSync(notPem, 'this is not a certificate\n');
    const r = runCli(['serve'], {
      VEGKIOSK_MODEL: modelPath, VEGKIOSK_DATA_DIR: join(dir, 'data4'), VEGKIOSK_PORT: String(await freePort()),
      VEGKIOSK_CAMERA: 'synthetic', VEGKIOSK_TLS_CERT: notPem, VEGKIOSK_TLS_KEY: notPem,
    }, 30_000);
    expect(r.signal, 'serve did not exit by itself').to.equal(null);
    expect(r.status).to.equal(78);
    expect(r.stderr).to.match(/^vegkiosk: config: VEGKIOSK_TLS_CERT: not a PEM X\.509 certificate$/m);
  });

  it('exits 1 naming the address when the port is taken, rather than running on without a server', async () => {
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      const r = runCli(['serve'], {
        VEGKIOSK_MODEL: modelPath, VEGKIOSK_DATA_DIR: join(dir, 'data5'), VEGKIOSK_PORT: String(port), VEGKIOSK_CAMERA: 'synthetic',
      }, 30_000);
      expect(r.signal, 'serve did not exit by itself').to.equal(null);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.include(`vegkiosk serve: cannot listen on 127.0.0.1:${port} (VEGKIOSK_HOST, VEGKIOSK_PORT): another process already listens there`);
    } finally {
      squatter.close();
    }
  });

  it('a stray asynchronous error ends serve with one line and exit 1, its stack only with --debug', async () => {
    // Preloaded into the real process: rejects a promise nobody awaits once the CLI's handlers are in place.
    const stray = 'const t = setInterval(() => { if (process.listenerCount("unhandledRejection") > 0) { clearInterval(t); '
      + 'Promise.reject(new Error("stray failure from the test")); } }, 5);';
    const run = async (extra: string[]) => spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(stray)}`, CLI, 'serve', ...extra], {
      env: cliEnv({ VEGKIOSK_MODEL: modelPath, VEGKIOSK_DATA_DIR: join(dir, 'data6'), VEGKIOSK_PORT: String(await freePort()), VEGKIOSK_CAMERA: 'synthetic' }),
      encoding: 'utf8',
      timeout: 30_000,
    });
    const plain = await run([]);
    expect(plain.signal, 'serve did not exit by itself').to.equal(null);
    expect(plain.status).to.equal(1);
    expect(plain.stderr).to.equal('vegkiosk: unexpected failure: stray failure from the test\n');
    const debug = await run(['--debug']);
    expect(debug.status).to.equal(1);
    expect(debug.stderr).to.match(/^vegkiosk: unexpected failure: stray failure from the test\nError: stray failure from the test\n\s+at /);
  });

  it('exits 78 naming VEGKIOSK_MODEL when the model file is missing', () => {
    const r = runCli(['serve'], { VEGKIOSK_MODEL: join(dir, 'nope.onnx'), VEGKIOSK_DATA_DIR: join(dir, 'data3') });
    expect(r.status).to.equal(78);
    expect(r.stderr).to.match(/VEGKIOSK_MODEL: model file not found/);
  });
});
