import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { parseCameraSpec } from '../device/camera/camera-spec.ts';
import { DEMO_PHOTOS_DIR, DemoSource } from '../device/camera/demo-source.ts';
import type { Frame } from '../device/camera/frame-source.ts';
import { ReplaySource } from '../device/camera/replay-source.ts';
import { createFrameSource, selectAutoSource } from '../device/camera/select-source.ts';
import { listCameraCandidates } from '../device/camera/video-device.ts';
import { PACKAGE_ROOT } from '../device/config/load-config.ts';
import { SourceJar, waitFor } from './fixtures/camera/helpers.ts';
import { freePort, LogWatcher, runCli, startCli } from './support/cli.ts';
import { bearer, newSession, request } from './support/https-fixtures.ts';

const OPTS = { width: 320, height: 240, fps: 10, stallMs: 1000 };
/** The shared photos, beside the checkout (see ../shared/data/README.md). */
const SHARED_DATA = resolve(PACKAGE_ROOT, '../shared/data');
const TRAIN_IMAGES = join(SHARED_DATA, 'fruits-vegetables-yolo/train/images');
const MAX_PHOTOS = 12;
const MAX_BYTES = 1.5 * 1024 * 1024;

function demoPhotos(): string[] {
  return readdirSync(DEMO_PHOTOS_DIR)
    .filter((name) => ['.jpg', '.jpeg', '.png'].includes(extname(name).toLowerCase()))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** The default model's manifest, whichever model config/default.json names today. */
function defaultManifest(): { labels: string[]; thresholds: { score: number } } {
  const defaults = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'config/default.json'), 'utf8')) as { VEGKIOSK_MODEL: string };
  return JSON.parse(readFileSync(join(PACKAGE_ROOT, defaults.VEGKIOSK_MODEL.replace(/\.onnx$/, '.json')), 'utf8'));
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) done({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => done({ code, signal }));
  });
}

describe('camera: the demo photos that auto replays without a camera', () => {
  const jar = new SourceJar();
  afterEach(() => jar.stopAll());

  it('stay within 12 photos and 1.5 MB, each listed with its original name in the README with the attribution', () => {
    const photos = demoPhotos();
    expect(photos.length, 'demo photos').to.be.within(1, MAX_PHOTOS);
    const bytes = photos.reduce((sum, name) => sum + statSync(join(DEMO_PHOTOS_DIR, name)).size, 0);
    expect(bytes, 'bytes of all demo photos').to.be.at.most(MAX_BYTES);
    // Nothing else rides along under the demo's name (only the photos and their README).
    expect(readdirSync(DEMO_PHOTOS_DIR).sort()).to.deep.equal([...photos, 'README.md'].sort());

    const readme = readFileSync(join(DEMO_PHOTOS_DIR, 'README.md'), 'utf8');
    for (const needle of ['object-detection/fruits-and-vegetables-knetf', 'version 3', '2022-08-20', 'License: Public Domain', 'train']) {
      expect(readme, `README mentions ${needle}`).to.include(needle);
    }
    for (const name of photos) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      expect(row, `README row for ${name}`).to.be.a('string');
      expect(row, `original name of ${name}`).to.match(/\| `[^`]+_[A-Za-z]+\.rf\.[0-9a-f]{32}\.jpg` \|/);
    }
  });

  it('are train-split originals, byte for byte, and none is a valid-split or Grocery photo', function () {
    if (!existsSync(join(SHARED_DATA, 'fruits-vegetables-yolo')) || !existsSync(join(SHARED_DATA, 'grocery'))) {
      console.log(`      skipped: needs the fruits-vegetables-yolo and grocery photos in ${SHARED_DATA} (../shared/data beside the checkout)`);
      this.skip();
    }
    this.timeout(60_000);
    const readme = readFileSync(join(DEMO_PHOTOS_DIR, 'README.md'), 'utf8');
    const forbidden = new Map<string, string>();
    for (const file of [...filesUnder(join(SHARED_DATA, 'fruits-vegetables-yolo/valid')), ...filesUnder(join(SHARED_DATA, 'grocery'))]) {
      forbidden.set(sha256(file), file);
    }
    for (const name of demoPhotos()) {
      const hash = sha256(join(DEMO_PHOTOS_DIR, name));
      expect(forbidden.get(hash), `${name} is byte-equal to`).to.equal(undefined);
      const original = new RegExp(`^\\| \`${name.replace(/[.]/g, '\\.')}\` \\| \`([^\`]+)\``, 'm').exec(readme)?.[1];
      expect(original, `original name of ${name}`).to.be.a('string');
      expect(sha256(join(TRAIN_IMAGES, original!)), `${name} is ${original} of the train split`).to.equal(hash);
    }
  });

  it('replay holds each image for holdMs while frames keep coming at the source fps', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vegkiosk-demo-hold-'));
    try {
      await sharp({ create: { width: 32, height: 32, channels: 3, background: '#ff0000' } }).jpeg().toFile(join(dir, 'a.jpg'));
      await sharp({ create: { width: 32, height: 32, channels: 3, background: '#0000ff' } }).jpeg().toFile(join(dir, 'b.jpg'));
      const a = readFileSync(join(dir, 'a.jpg'));
      // 20 fps, 150 ms a photo: three frames of each in turn.
      const source = jar.add(new ReplaySource(dir, { ...OPTS, fps: 20 }, { holdMs: 150 }));
      const frames: Frame[] = [];
      source.on('frame', (frame: Frame) => frames.push(frame));
      await source.start();
      await waitFor(() => frames.length >= 8, 5000, 'eight replayed frames');
      await source.stop();
      const pattern = frames.slice(0, 8).map((frame) => (frame.jpeg!.equals(a) ? 'a' : 'b')).join('');
      expect(pattern).to.equal('aaabbbaa');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('auto with no camera device picks the demo photos and marks them as a demo', async () => {
    const { source, reason } = await selectAutoSource({ ...OPTS, listVideoDevices: async () => [] });
    jar.add(source);
    expect(reason).to.match(/^auto: no camera delivered frames \(no \/dev\/video\* devices; csi skipped: not a Jetson or Raspberry Pi\); replaying the demo photos$/);
    expect(source.health()).to.include({ source: 'demo', kind: 'replay', state: 'stopped', demo: true });
    const first = readFileSync(join(DEMO_PHOTOS_DIR, demoPhotos()[0]));
    await source.start();
    await waitFor(() => source.latest() !== null, 5000, 'the first demo frame');
    expect(source.latest()!.jpeg!.equals(first), 'the first demo photo, as shipped').to.equal(true);
    expect(source.health()).to.include({ state: 'running', demo: true });
  });

  it('auto falls back to the synthetic pattern when the demo photos are missing, and says so', async () => {
    const { source, reason } = await selectAutoSource({
      ...OPTS, listVideoDevices: async () => [], demoPhotosDir: join(tmpdir(), 'vegkiosk-no-such-demo-dir'),
    });
    jar.add(source);
    expect(source.kind).to.equal('synthetic');
    expect(source.health().demo).to.equal(undefined);
    expect(reason).to.match(/; demo photos unusable \(Replay path .*vegkiosk-no-such-demo-dir does not exist\..*\); using the synthetic test pattern$/);
  });

  it('VEGKIOSK_CAMERA=demo asks for the demo photos by name; synthetic stays available', async () => {
    expect(parseCameraSpec('demo')).to.deep.equal({ kind: 'demo' });
    const demo = await createFrameSource('demo', OPTS);
    expect(demo.source).to.be.instanceOf(DemoSource);
    expect(demo.source.health()).to.include({ source: 'demo', demo: true });
    expect(demo.reason).to.equal('configured: VEGKIOSK_CAMERA=demo');
    const synthetic = await createFrameSource('synthetic', OPTS);
    expect(synthetic.source.health()).to.include({ kind: 'synthetic', source: 'synthetic' });
    expect(synthetic.source.health().demo).to.equal(undefined);
  });

  it('the default model recognises most demo photos (a label of its own, at or above its score threshold)', function () {
    this.timeout(60_000);
    const manifest = defaultManifest();
    const r = runCli(['classify', '--json', DEMO_PHOTOS_DIR]);
    expect(r.status, r.stderr).to.equal(0);
    const results = r.stdout.trim().split('\n').map((line) => JSON.parse(line) as { label: string | null; score: number });
    expect(results).to.have.length(demoPhotos().length);
    const recognised = results.filter((x) => x.label !== null && manifest.labels.includes(x.label) && x.score >= manifest.thresholds.score);
    // Most, not all: the default model changes, and a demo that shows "No match" now and then is still a demo.
    expect(recognised.length, r.stdout).to.be.at.least(Math.ceil((results.length * 2) / 3));
  });
});

describe('vegkiosk serve on defaults without a camera (real process, default model)', function () {
  this.timeout(120_000);
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-demo-serve-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('replays the demo photos, says so in the log and /healthz, and serves real labels', async function () {
    const cameras = await listCameraCandidates();
    if (cameras.length > 0) {
      // auto would (rightly) pick the camera; the demo fallback is covered above with no devices injected.
      console.log(`      skipped: this machine has camera devices (${cameras.join(', ')}), so auto does not fall back to the demo`);
      this.skip();
    }
    const manifest = defaultManifest();
    const port = await freePort();
    const dataDir = join(dir, 'data');
    const child = startCli(['serve'], { VEGKIOSK_DATA_DIR: dataDir, VEGKIOSK_PORT: String(port), VEGKIOSK_CAMERA_FPS: '5' });
    const exited = exitOf(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const log = new LogWatcher(child);
    try {
      const ready = await Promise.race([
        log.waitFor((l) => l.msg === 'first frame inferred; ready'),
        exited.then((e) => { throw new Error(`serve exited early (${JSON.stringify(e)}): ${stderr}`); }),
      ]);
      expect(ready.camera).to.equal('demo');
      const demoLines = log.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('DEMO: '));
      expect(demoLines, 'one clear demo line').to.have.length(1);
      expect(demoLines[0].msg).to.match(/no camera in use; replaying the shipped demo photos/);

      const base = `https://127.0.0.1:${port}`;
      const health = (await request(base, '/healthz')).json();
      expect(health.camera).to.include({ source: 'demo', kind: 'replay', demo: true, state: 'running' });
      expect(health.camera.reason).to.match(/^auto: no camera delivered frames .*; replaying the demo photos$/);

      const viewer = await newSession(base, dataDir, 'viewer');
      let newest: { label: string | null; score: number } | undefined;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const results = (await request(base, '/api/results?limit=1', { headers: bearer(viewer) })).json();
        newest = results.results[0];
        if (newest?.label) break;
        await new Promise((wake) => setTimeout(wake, 500));
      }
      expect(newest, 'a result').to.not.equal(undefined);
      expect(manifest.labels, `label of ${JSON.stringify(newest)}`).to.include(newest!.label);
      expect(newest!.score).to.be.at.least(manifest.thresholds.score);
    } finally {
      child.kill('SIGTERM');
      // A service that ignores SIGTERM must not outlive the test.
      const stopped = await Promise.race([exited.then(() => true), new Promise<false>((wake) => setTimeout(() => wake(false), 10_000))]);
      if (!stopped) child.kill('SIGKILL');
    }
    const { code } = await exited;
    expect(code).to.equal(0);
    expect(stderr).to.equal('');
  });
});
