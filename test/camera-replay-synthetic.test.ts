import { expect } from 'chai';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Frame } from '../device/camera/frame-source.ts';
import { ReplaySource } from '../device/camera/replay-source.ts';
import { SyntheticSource } from '../device/camera/synthetic-source.ts';
import { SourceJar, waitFor } from './fixtures/camera/helpers.ts';

type Colour = 'red' | 'green' | 'blue';

async function dominant(jpeg: Buffer | undefined): Promise<Colour> {
  const { channels } = await sharp(jpeg).stats();
  const means = channels.slice(0, 3).map((c) => c.mean);
  return (['red', 'green', 'blue'] as const)[means.indexOf(Math.max(...means))];
}

function collect(source: ReplaySource | SyntheticSource): Frame[] {
  const frames: Frame[] = [];
  source.on('frame', (frame: Frame) => frames.push(frame));
  return frames;
}

describe('camera: replay and synthetic backends', () => {
  const jar = new SourceJar();
  let dir = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vegkiosk-replay-test-'));
    const image = (background: string) => sharp({ create: { width: 160, height: 120, channels: 3, background } });
    await mkdir(join(dir, 'loop'));
    // Natural order: 2 before 10. The PNG must arrive as JPEG bytes.
    await image('#ff0000').jpeg().toFile(join(dir, 'loop', 'frame-2.jpg'));
    await image('#00ff00').png().toFile(join(dir, 'loop', 'frame-10.png'));
    await image('#0000ff').jpeg().toFile(join(dir, 'loop', 'frame-11.JPEG'));
    await writeFile(join(dir, 'loop', 'README.txt'), 'not an image');
    await mkdir(join(dir, 'empty'));
  });

  afterEach(() => jar.stopAll());

  after(async () => {
    await jar.stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('replay loops the images of a directory in natural order, as JPEG', async () => {
    const source = jar.add(new ReplaySource(join(dir, 'loop'), { width: 160, height: 120, fps: 20, stallMs: 2000 }));
    const frames = collect(source);
    await source.start();
    await waitFor(() => frames.length >= 7, 10_000, 'seven frames');

    for (const frame of frames) expect(frame.jpeg?.subarray(0, 2).equals(Buffer.from([0xff, 0xd8]))).to.equal(true);
    const colours = await Promise.all(frames.slice(0, 7).map((frame) => dominant(frame.jpeg)));
    expect(colours).to.deep.equal(['red', 'green', 'blue', 'red', 'green', 'blue', 'red']);
    expect(source.health()).to.include({ kind: 'replay', source: `replay:${join(dir, 'loop')}`, state: 'running' });
  });

  it('replay accepts a single file', async () => {
    const source = jar.add(new ReplaySource(join(dir, 'loop', 'frame-11.JPEG'), { width: 160, height: 120, fps: 20, stallMs: 2000 }));
    const frames = collect(source);
    await source.start();
    await waitFor(() => frames.length >= 2, 10_000, 'two frames');
    expect(await dominant(frames[1].jpeg)).to.equal('blue');
  });

  it('replay of an empty directory or a missing path fails with what to do, without throwing', async () => {
    const empty = jar.add(new ReplaySource(join(dir, 'empty'), { width: 160, height: 120, fps: 5, stallMs: 1000 }));
    await empty.start();
    expect(empty.health().state).to.equal('failed');
    expect(empty.health().lastError).to.equal(`Replay directory ${join(dir, 'empty')} holds no .jpg, .jpeg or .png images. Copy some in.`);

    const missing = jar.add(new ReplaySource(join(dir, 'nope'), { width: 160, height: 120, fps: 5, stallMs: 1000 }));
    await missing.start();
    expect(missing.health().state).to.equal('failed');
    expect(missing.health().lastError).to.match(/^Replay path .*nope does not exist\. Check VEGKIOSK_CAMERA=replay:<file-or-dir>\./);
  });

  it('synthetic delivers moving JPEG frames at the configured size', async () => {
    const source = jar.add(new SyntheticSource({ width: 320, height: 180, fps: 20, stallMs: 2000 }));
    const frames = collect(source);
    await source.start();
    await waitFor(() => frames.length >= 3, 10_000, 'three frames');

    const meta = await sharp(frames[2].jpeg).metadata();
    expect([meta.format, meta.width, meta.height]).to.deep.equal(['jpeg', 320, 180]);
    const [a, b] = await Promise.all([0, 2].map((i) => sharp(frames[i].jpeg).raw().toBuffer()));
    expect(a.equals(b), 'the pattern moves between frames').to.equal(false);
    expect(frames.map((f) => f.seq).slice(0, 3)).to.deep.equal([1, 2, 3]);
    expect(source.health()).to.include({ kind: 'synthetic', source: 'synthetic', state: 'running' });
  });

  it('synthetic can deliver raw RGB instead', async () => {
    const source = jar.add(new SyntheticSource({ width: 64, height: 48, fps: 20, stallMs: 2000, encoding: 'raw' }));
    await source.start();
    await waitFor(() => source.latest() !== null, 5000, 'a frame');
    const frame = source.latest();
    expect(frame?.jpeg).to.equal(undefined);
    expect(frame?.raw).to.include({ width: 64, height: 48, channels: 3 });
    expect(frame?.raw?.data.length).to.equal(64 * 48 * 3);
  });
});
