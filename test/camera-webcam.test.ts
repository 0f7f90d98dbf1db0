import { expect } from 'chai';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { WebcamSource } from '../device/camera/webcam-source.ts';
import { SourceJar, waitFor, waitForFrameAfter } from './fixtures/camera/helpers.ts';
import { requirePrograms } from './support/requires.ts';

async function webcamTempDirs(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of ['/dev/shm', tmpdir()]) {
    try {
      found.push(...(await readdir(dir)).filter((name) => name.startsWith('vegkiosk-webcam-')).map((name) => join(dir, name)));
    } catch {
      // directory absent on this machine
    }
  }
  return found;
}

describe('camera: webcam backend (node-webcam + real fswebcam)', () => {
  before(function () {
    requirePrograms(this, 'fswebcam');
  });
  const jar = new SourceJar();
  let workDir = '';

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'vegkiosk-webcam-test-'));
  });

  after(async () => {
    await jar.stopAll();
    await rm(workDir, { recursive: true, force: true });
  });

  afterEach(() => jar.stopAll());

  it('captures fswebcam TEST stills as 1280x720 JPEG frames and removes its temp files on stop', async () => {
    const before = new Set(await webcamTempDirs());
    const source = jar.add(new WebcamSource('TEST', { width: 1280, height: 720, fps: 5, stallMs: 2000 }));
    await source.start();
    await waitForFrameAfter(source, 1, 10_000);

    const meta = await sharp(source.latest()?.jpeg).metadata();
    expect([meta.format, meta.width, meta.height]).to.deep.equal(['jpeg', 1280, 720]);
    expect(source.health()).to.include({ kind: 'webcam', source: 'webcam:TEST', state: 'running', restarts: 0 });

    await source.stop();
    const leftovers = (await webcamTempDirs()).filter((dir) => !before.has(dir));
    expect(leftovers, 'temp dirs left after stop()').to.deep.equal([]);
  });

  it('reads the FILE: pseudo device (the image fswebcam is given is what arrives)', async () => {
    const image = join(workDir, 'red scene.png');
    await sharp({ create: { width: 320, height: 240, channels: 3, background: '#e01010' } }).png().toFile(image);
    const source = jar.add(new WebcamSource(`FILE:${image}`, { width: 320, height: 240, fps: 5, stallMs: 2000 }));
    await source.start();
    await waitForFrameAfter(source, 0, 10_000);

    const { channels } = await sharp(source.latest()?.jpeg).stats();
    expect(channels[0].mean).to.be.greaterThan(180);
    expect(channels[1].mean).to.be.lessThan(60);
    expect(channels[2].mean).to.be.lessThan(60);
  });

  it('goes to restarting with a clear error for a device that is not there, without throwing', async () => {
    const source = jar.add(new WebcamSource('/dev/video98', {
      width: 640, height: 480, fps: 5, stallMs: 2000, backoff: { initialMs: 60_000 },
    }));
    await source.start();
    const health = source.health();
    expect(health.state).to.equal('restarting');
    expect(health.lastError).to.match(/^USB webcam \/dev\/video98 does not exist\. Check that the USB camera is plugged in/);
  });

  it('reports fswebcam failing to read its input as a capture error', async () => {
    const notAnImage = join(workDir, 'notes.txt');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(notAnImage, 'not an image');
    const source = jar.add(new WebcamSource(`FILE:${notAnImage}`, {
      width: 320, height: 240, fps: 5, stallMs: 2000, backoff: { initialMs: 60_000 },
    }));
    await source.start();
    await waitFor(() => source.health().lastError !== null, 10_000, 'the capture error');
    expect(source.health().state).to.equal('restarting');
    expect(source.health().lastError).to.match(/^fswebcam (ran but wrote no image|could not capture) /);
  });
});
