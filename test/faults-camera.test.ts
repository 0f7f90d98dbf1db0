import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { LiveService } from '../scripts/soak-service.ts';
import { requirePrograms } from './support/requires.ts';

/**
 * Camera faults through the real service: `vegkiosk serve` spawned with a camera whose capture
 * process (fswebcam, ffmpeg) really fails, hangs or cannot find its device. /healthz must say so and
 * the service must recover on its own, never exit.
 */

/** Child processes of pid (from /proc), to see capture processes come and go. */
function children(pid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push({ pid: Number(entry), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

describe('faults: camera, through the real service', function () {
  this.timeout(60_000);
  let dir: string;
  let model: string;
  let jpeg: string;
  let svc: LiveService | null = null;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-fault-'));
    model = (await writeTestClassifier(join(dir, 'model'))).onnxPath;
    jpeg = join(dir, 'sample.jpg');
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 30, g: 160, b: 60 } } }).jpeg().toFile(jpeg);
  });
  afterEach(async () => {
    // SIGTERM so the service stops its own capture processes (stop() falls back to SIGKILL).
    await svc?.stop('SIGTERM', 5_000).catch(() => undefined);
    svc = null;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const small = { VEGKIOSK_CAMERA_WIDTH: '320', VEGKIOSK_CAMERA_HEIGHT: '240', VEGKIOSK_CAMERA_FPS: '5', VEGKIOSK_TLS: 'on' };

  it('a camera that fails while running: degraded with the error, then ok again without a restart', async function () {
    requirePrograms(this, 'fswebcam');
    const image = join(dir, 'cam.jpg');
    copyFileSync(jpeg, image);
    svc = await LiveService.start({ dataDir: join(dir, 'data1'), model, camera: `webcam:FILE:${image}`, env: small });
    await svc.pollHealth((h) => h.status === 'ok', 30_000, 'ok at start');

    // The "camera" goes away: fswebcam really runs and really fails to capture.
    renameSync(image, `${image}.away`);
    const down = await svc.pollHealth((h) => h.status === 'degraded' && h.camera.state !== 'running', 20_000, 'degraded');
    expect(down.camera.lastError).to.match(/fswebcam|cam\.jpg/);
    expect(down.reasons.join(' ')).to.include(`camera webcam:FILE:${image}`);
    expect(svc.child.exitCode).to.equal(null);

    renameSync(`${image}.away`, image);
    const up = await svc.pollHealth((h) => h.status === 'ok', 30_000, 'ok after the camera came back');
    expect(up.camera.state).to.equal('running');
    expect(up.camera.restarts).to.be.greaterThan(0);
    expect(up).not.to.have.property('reasons');
    // Same process all along: recovery happened inside the service.
    expect(svc.child.exitCode).to.equal(null);
    await svc.waitForLog((l) => l.msg === 'camera delivering frames again', 1000);
  });

  it('a camera missing at start never crash-loops: up and degraded, retrying, and ok once it appears', async function () {
    requirePrograms(this, 'fswebcam');
    const image = join(dir, 'late.jpg');
    svc = await LiveService.start({ dataDir: join(dir, 'data2'), model, camera: `webcam:FILE:${image}`, env: small });
    const down = await svc.pollHealth((h) => h.status === 'degraded' && h.camera.restarts >= 2, 20_000, 'degraded with retries');
    expect(down.camera.lastError).to.include(image);
    expect(svc.child.exitCode).to.equal(null);

    copyFileSync(jpeg, image);
    await svc.pollHealth((h) => h.status === 'ok', 30_000, 'ok once the camera appeared');
    expect(svc.child.exitCode).to.equal(null);
  });

  it('a USB camera node that does not exist: the service stays up and names the device in /healthz', async () => {
    svc = await LiveService.start({ dataDir: join(dir, 'data3'), model, camera: 'v4l2:/dev/video97', env: small });
    const down = await svc.pollHealth((h) => h.camera.restarts >= 2, 20_000, 'repeated retries');
    expect(down.status).to.equal('degraded');
    expect(down.camera.lastError).to.match(/\/dev\/video97 does not exist/);
    expect(svc.child.exitCode).to.equal(null);
  });

  it('a hung ffmpeg (RTSP camera that accepts and never answers) is killed and retried, service stays up', async function () {
    requirePrograms(this, 'ffmpeg');
    // A real TCP listener on loopback that swallows the RTSP handshake: ffmpeg blocks reading it.
    const sockets: Socket[] = [];
    const rtsp: Server = createServer((s) => sockets.push(s.on('error', () => undefined)));
    await new Promise<void>((r) => rtsp.listen(0, '127.0.0.1', r));
    const port = (rtsp.address() as { port: number }).port;
    try {
      svc = await LiveService.start({ dataDir: join(dir, 'data4'), model, camera: `rtsp://127.0.0.1:${port}/cam`, env: small });
      await svc.pollHealth(() => sockets.length > 0 && children(svc!.pid).some((c) => c.comm === 'ffmpeg'), 10_000, 'ffmpeg connected');
      const hungPid = children(svc.pid).find((c) => c.comm === 'ffmpeg')!.pid;
      const hung = await svc.pollHealth((h) => h.camera.state === 'restarting', 20_000, 'the hung ffmpeg detected');
      expect(hung.status).to.equal('degraded');
      expect(hung.camera.lastError).to.match(/delivered no frame within \d+ ms/);
      // The hung process was killed and reaped (no zombie left behind), and the service is still up.
      await svc.pollHealth(() => !children(svc!.pid).some((c) => c.pid === hungPid), 5_000, 'the hung ffmpeg gone');
      expect(svc.child.exitCode).to.equal(null);
    } finally {
      sockets.forEach((s) => s.destroy());
      rtsp.close();
    }
  });
});
