import { expect } from 'chai';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CameraSpecError, parseCameraSpec } from '../device/camera/camera-spec.ts';
import { createFrameSource, selectAutoSource } from '../device/camera/select-source.ts';
import { listCameraCandidates } from '../device/camera/video-device.ts';
import { lavfiMjpegArgs, ProcessRecorder, SourceJar, waitForFrameAfter } from './fixtures/camera/helpers.ts';
import { requirePrograms } from './support/requires.ts';

const OPTS = { width: 320, height: 240, fps: 10, stallMs: 1000 };

describe('camera: VEGKIOSK_CAMERA parsing and source selection', () => {
  const jar = new SourceJar();
  let recorder = new ProcessRecorder();

  afterEach(async () => {
    await jar.stopAll();
    const leftovers = recorder.running().length;
    recorder.killAll();
    expect(leftovers, 'processes left running').to.equal(0);
  });

  it('parses every documented form', () => {
    expect(parseCameraSpec('auto')).to.deep.equal({ kind: 'auto' });
    expect(parseCameraSpec(' synthetic ')).to.deep.equal({ kind: 'synthetic' });
    expect(parseCameraSpec('csi')).to.deep.equal({ kind: 'csi' });
    expect(parseCameraSpec('replay:/srv/samples')).to.deep.equal({ kind: 'replay', path: '/srv/samples' });
    expect(parseCameraSpec('webcam:/dev/video0')).to.deep.equal({ kind: 'webcam', device: '/dev/video0' });
    expect(parseCameraSpec('webcam:TEST')).to.deep.equal({ kind: 'webcam', device: 'TEST' });
    expect(parseCameraSpec('webcam:FILE:/tmp/a.jpg')).to.deep.equal({ kind: 'webcam', device: 'FILE:/tmp/a.jpg' });
    expect(parseCameraSpec('v4l2:/dev/video12')).to.deep.equal({ kind: 'v4l2', device: '/dev/video12' });
    expect(parseCameraSpec('v4l2:/dev/v4l/by-id/usb-Logitech_C920-video-index0'))
      .to.deep.equal({ kind: 'v4l2', device: '/dev/v4l/by-id/usb-Logitech_C920-video-index0' });
    expect(parseCameraSpec('rtsp://u:p@10.0.0.9:554/live')).to.deep.equal({ kind: 'rtsp', url: 'rtsp://u:p@10.0.0.9:554/live' });
  });

  it('rejects bad values with a message naming the key and the accepted forms', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /is empty/],
      ['usb:/dev/video0', /unknown camera source "usb"/],
      ['v4l2:', /v4l2: needs a device node such as \/dev\/video0/],
      ['v4l2:/etc/passwd', /needs a device node/],
      ['webcam:video0', /webcam: needs a device node/],
      ['replay:', /replay: needs a file or directory/],
      ['rtsp://', /RTSP URL/],
      ['synthetic\nauto', /control characters/],
    ];
    for (const [value, why] of cases) {
      expect(() => parseCameraSpec(value), value).to.throw(CameraSpecError, why);
      expect(() => parseCameraSpec(value), value).to.throw(/^VEGKIOSK_CAMERA=".*" is not valid: .*Use one of: auto \| synthetic/s);
    }
  });

  it('creates the backend each configured value names, not started', async () => {
    const expectations: Array<[string, string, string]> = [
      ['synthetic', 'synthetic', 'synthetic'],
      ['replay:/srv/x', 'replay', 'replay:/srv/x'],
      ['webcam:/dev/video0', 'webcam', 'webcam:/dev/video0'],
      ['v4l2:/dev/video0', 'v4l2', 'v4l2:/dev/video0'],
      ['rtsp://u:secret@cam/live', 'rtsp', 'rtsp://u:***@cam/live'],
      ['rtsp://secret@cam/live', 'rtsp', 'rtsp://***@cam/live'],
      ['rtsp://cam/live?password=secret', 'rtsp', 'rtsp://cam/live?password=***'],
    ];
    for (const [spec, kind, name] of expectations) {
      const { source, reason } = await createFrameSource(spec, OPTS);
      expect(source.health()).to.include({ kind, source: name, state: 'stopped' });
      expect(reason).to.match(/^configured: VEGKIOSK_CAMERA=/);
      expect(reason).to.not.include('secret');
    }
    const { source } = await createFrameSource('csi', { ...OPTS, board: 'pi' });
    expect(source.kind).to.equal('csi');
  });

  it('refuses csi on a machine that is neither a Jetson nor a Pi', async () => {
    let error: unknown;
    try {
      await createFrameSource('csi', { ...OPTS, board: null });
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(CameraSpecError);
    expect((error as Error).message).to.match(/needs a Jetson or a Raspberry Pi, and this machine is neither/);
  });

  it('auto falls back to the demo photos (then the synthetic pattern: camera-demo.test.ts) and says why', async () => {
    recorder = new ProcessRecorder();
    const { source, reason } = await selectAutoSource({
      ...OPTS, spawn: recorder.spawn, listVideoDevices: async () => ['/dev/video97'],
    });
    expect(source.source).to.equal('demo');
    expect(reason).to.match(/^auto: no camera delivered frames \(v4l2:\/dev\/video97: Camera device \/dev\/video97 does not exist\./);
    expect(reason).to.include('csi skipped: not a Jetson or Raspberry Pi');
    expect(reason).to.match(/replaying the demo photos$/);
    expect(source.health().state).to.equal('stopped');
  });

  it('auto picks a working v4l2 camera first', async function () {
    requirePrograms(this, 'ffmpeg');
    // The "camera" is a real ffmpeg on lavfi; the first candidate is missing, the second works.
    recorder = new ProcessRecorder(() => ['ffmpeg', lavfiMjpegArgs(320, 240, 10)]);
    const real = recorder.spawn;
    const { source, reason } = await selectAutoSource({
      ...OPTS, spawn: real, board: 'jetson',
      listVideoDevices: async () => ['/dev/video96', '/dev/null'],
    });
    expect(reason).to.equal('auto: v4l2:/dev/null delivered frames (first working camera of 2 video device(s))');
    expect(source.source).to.equal('v4l2:/dev/null');
    expect(recorder.running(), 'the probe was stopped').to.have.length(0);
    jar.add(source);
    await source.start();
    await waitForFrameAfter(source, 0, 10_000);
  });

  it('auto tries CSI on a real board when no v4l2 camera works', async function () {
    requirePrograms(this, 'ffmpeg');
    recorder = new ProcessRecorder(() => ['ffmpeg', lavfiMjpegArgs(320, 240, 10)]);
    const { source, reason } = await selectAutoSource({
      ...OPTS, spawn: recorder.spawn, board: 'pi', listVideoDevices: async () => [],
    });
    expect(source.kind).to.equal('csi');
    expect(reason).to.equal('auto: CSI camera on pi delivered frames');
    expect(recorder.calls[0].command).to.equal('rpicam-vid');
  });

  it('lists /dev/video nodes in numeric order and skips codec and ISP nodes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'vegkiosk-devlist-'));
    try {
      const dev = join(root, 'dev');
      const sysfs = join(root, 'sys');
      await mkdir(dev);
      for (const [node, driver] of [['video10', 'bcm2835-codec-decode'], ['video2', 'USB Camera: Metadata'], ['video0', 'HD Pro Webcam C920'], ['video13', 'bcm2835-isp'], ['vide', '']]) {
        await writeFile(join(dev, node), '');
        if (driver) {
          await mkdir(join(sysfs, node), { recursive: true });
          await writeFile(join(sysfs, node, 'name'), `${driver}\n`);
        }
      }
      await writeFile(join(dev, 'video1'), '');
      expect(await listCameraCandidates(dev, sysfs)).to.deep.equal([join(dev, 'video0'), join(dev, 'video1'), join(dev, 'video2')]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
