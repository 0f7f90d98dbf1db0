// The fleet publisher inside a real `vegkiosk serve` (synthetic camera, test classifier) against a
// real Mosquitto on loopback: kill -9, a restart during an outage, and brokers it cannot use.
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { freePort, LogWatcher, runCli, startCli } from './support/cli.ts';
import { Subscriber } from './support/fleet-fixtures.ts';
import { Mosquitto } from './support/mosquitto.ts';
import { requirePrograms } from './support/requires.ts';
import { Teardown } from './support/teardown.ts';

const USER = 'kiosk';
const PASSWORD = 'fleet-kiosk-password';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Kiosk {
  child: ChildProcess;
  log: InstanceType<typeof LogWatcher>;
  port: number;
  dataDir: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function getText(url: string, ca: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca, checkServerIdentity: () => undefined }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => resolve({ status: res.statusCode!, text }));
    }).on('error', reject);
  });
}

describe('fleet: vegkiosk serve with a real broker', function () {
  this.timeout(120_000);
  const teardown = new Teardown();
  let dir: string;
  let modelPath: string;
  let broker: Mosquitto;

  before(async function () {
    requirePrograms(this, 'mosquitto', 'openssl');
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-fleet-kiosk-'));
    teardown.add(() => rmSync(dir, { recursive: true, force: true }));
    modelPath = (await writeTestClassifier(join(dir, 'model'))).onnxPath;
    broker = await teardown.track(Mosquitto.create({ users: { [USER]: PASSWORD, watcher: 'watcher-password' } }), (b) => b.destroy());
    await broker.start();
  });
  after(() => teardown.run());

  /** Starts serve and waits for its first result; stopped (SIGTERM, then SIGKILL) at teardown in any case. */
  async function startKiosk(env: Record<string, string>, dataDir = mkdtempSync(join(dir, 'data-'))): Promise<Kiosk> {
    const port = await freePort();
    const child = startCli(['serve'], {
      VEGKIOSK_MODEL: modelPath, VEGKIOSK_DATA_DIR: dataDir, VEGKIOSK_PORT: String(port), VEGKIOSK_CAMERA: 'synthetic',
      VEGKIOSK_CAMERA_FPS: '5', VEGKIOSK_INFERENCE_THREADS: '1', VEGKIOSK_MQTT_USERNAME: USER, VEGKIOSK_MQTT_PASSWORD: PASSWORD, ...env,
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    teardown.add(() => stopKiosk({ child, exited } as Kiosk));
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c) => (stderr += c));
    const log = new LogWatcher(child);
    await Promise.race([
      log.waitFor((l) => l.msg === 'first frame inferred; ready'),
      exited.then((e) => { throw new Error(`serve exited early (${JSON.stringify(e)}): ${stderr}`); }),
    ]);
    return { child, log, port, dataDir, exited };
  }

  async function stopKiosk(k: Pick<Kiosk, 'child' | 'exited'>): Promise<void> {
    if (k.child.exitCode !== null || k.child.signalCode !== null) return;
    k.child.kill('SIGTERM');
    const kill = setTimeout(() => k.child.kill('SIGKILL'), 10_000);
    await k.exited;
    clearTimeout(kill);
  }

  async function watcher(clientId: string, topics: string[]): Promise<Subscriber> {
    return teardown.track(Subscriber.connect(broker.url, topics, {
      username: 'watcher', password: 'watcher-password', clientId, clean: false, properties: { sessionExpiryInterval: 600 },
    }), (s) => s.close());
  }

  it('kill -9 of the kiosk makes the broker publish offline (the last will)', async () => {
    const sub = await watcher('watch-kill', ['vegkiosk/kill9/availability']);
    const kiosk = await startKiosk({ VEGKIOSK_MQTT_URL: broker.url, VEGKIOSK_KIOSK_ID: 'kill9' });
    await sub.waitFor('online', () => sub.messages.at(-1)?.text === 'online');
    kiosk.child.kill('SIGKILL');
    await kiosk.exited;
    await sub.waitFor('offline from the will', () => sub.messages.at(-1)?.text === 'offline', 10_000);
  });

  it('a restart of the kiosk during an outage loses nothing: every result seq arrives, in order', async () => {
    const sub = await watcher('watch-restart', ['vegkiosk/restart/results']);
    const env = { VEGKIOSK_MQTT_URL: broker.url, VEGKIOSK_KIOSK_ID: 'restart', VEGKIOSK_MQTT_RESULTS: 'all' };
    const first = await startKiosk(env);
    await sub.waitFor('results flowing', () => sub.messages.length >= 5);
    await broker.stop();
    const outageStart = Date.now();
    await sleep(3_000);
    await stopKiosk(first);
    const firstStopped = Date.now();
    const second = await startKiosk(env, first.dataDir);
    await sleep(3_000);
    const outageEnd = Date.now();
    await broker.start();
    // Wait until results made after the broker came back arrive: everything queued is before them.
    await sub.waitFor('live results again', () => sub.messages.some((m) => Number(m.json!.capturedAt) > outageEnd + 1_000), 40_000);
    await stopKiosk(second);

    const seqs = [...new Set(sub.messages.map((m) => Number(m.json!.seq)))];
    expect(seqs, 'first arrivals, gap-free and in order').to.deep.equal(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const during = sub.messages.map((m) => Number(m.json!.capturedAt)).filter((t) => t > outageStart && t < outageEnd);
    expect(during.filter((t) => t < firstStopped).length, 'results made by the first process during the outage').to.be.greaterThan(3);
    expect(during.filter((t) => t > firstStopped).length, 'results made by the restarted process during the outage').to.be.greaterThan(3);
  });

  it('keeps serving with a wrong password, a broker whose certificate its CA does not sign, and an unresolvable host', async () => {
    // A TLS broker whose certificate is signed by one CA; the kiosk trusts another.
    const pki = mkdtempSync(join(dir, 'pki-'));
    const openssl = (...args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: pki, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
    };
    for (const ca of ['ca', 'other-ca']) {
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=${ca}`);
    }
    writeFileSync(join(pki, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2',
      '-extfile', 'san.ext');
    const tlsBroker = await teardown.track(Mosquitto.create({ users: { [USER]: PASSWORD }, tls: { cert: join(pki, 'server.pem'), key: join(pki, 'server.key') } }), (b) => b.destroy());
    await tlsBroker.start();

    const cases: { name: string; env: Record<string, string>; error: RegExp }[] = [
      { name: 'wrong password', env: { VEGKIOSK_MQTT_URL: broker.url, VEGKIOSK_MQTT_PASSWORD: 'not-the-password' }, error: /refused the (user name or password|login as not authorised).*VEGKIOSK_MQTT_PASSWORD/ },
      { name: 'wrong CA', env: { VEGKIOSK_MQTT_URL: tlsBroker.url, VEGKIOSK_MQTT_CA: join(pki, 'other-ca.pem') }, error: /certificate was refused/ },
      { name: 'unresolvable host', env: { VEGKIOSK_MQTT_URL: 'mqtt://vegkiosk-no-such-broker.invalid:1883' }, error: /does not resolve|could not be resolved/ },
    ];
    for (const c of cases) {
      const kiosk = await startKiosk({ ...c.env, VEGKIOSK_KIOSK_ID: 'bad' });
      const warn = await kiosk.log.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('fleet broker:'));
      expect(String(warn.err), c.name).to.match(c.error);
      expect(JSON.stringify(kiosk.log.lines), 'the password is never logged').to.not.include(PASSWORD).and.not.include('not-the-password');
      await sleep(3_000); // retries meanwhile
      expect(kiosk.log.lines.filter((l) => l.msg === warn.msg).length, `${c.name}: logged once per change`).to.equal(1);
      // Plain mqtt:// to a host off this machine sends the password in clear: said once at start; loopback and mqtts:// are not warned about.
      const plainTextWarnings = kiosk.log.lines.filter((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.includes('plain mqtt://'));
      expect(plainTextWarnings.length, `${c.name}: plain-text warning`).to.equal(c.name === 'unresolvable host' ? 1 : 0);
      const ca = readFileSync(join(kiosk.dataDir, 'tls/cert.pem'));
      const health = await getText(`https://127.0.0.1:${kiosk.port}/healthz`, ca);
      expect(JSON.parse(health.text).status, `${c.name}: still serving`).to.equal('ok');
      const metrics = await getText(`https://127.0.0.1:${kiosk.port}/metrics`, ca);
      expect(metrics.text).to.include('vegkiosk_fleet_connected 0');
      await stopKiosk(kiosk);
    }

    // doctor says the same: broker, state, last error, queue.
    const doctor = runCli(['doctor'], {
      VEGKIOSK_MODEL: modelPath, VEGKIOSK_DATA_DIR: join(dir, 'doctor-data'), VEGKIOSK_MQTT_URL: broker.url,
      VEGKIOSK_MQTT_USERNAME: USER, VEGKIOSK_MQTT_PASSWORD: 'not-the-password', VEGKIOSK_KIOSK_ID: 'bad',
    });
    expect(doctor.stdout).to.include(`fleet (MQTT): broker ${broker.url}, kiosk bad`);
    expect(doctor.stdout).to.match(/state: cannot connect\n\s+last error: the broker refused the login as not authorised/);
    expect(doctor.stdout).to.include('queue: 0 message(s)');
    expect(doctor.stdout + doctor.stderr).to.not.include('not-the-password');

    // And with the right CA it connects over TLS.
    const good = await startKiosk({ VEGKIOSK_MQTT_URL: tlsBroker.url, VEGKIOSK_MQTT_CA: join(pki, 'ca.pem'), VEGKIOSK_KIOSK_ID: 'tls' });
    await good.log.waitFor((l) => l.msg === 'fleet broker connected');
    await stopKiosk(good);
  });
});
