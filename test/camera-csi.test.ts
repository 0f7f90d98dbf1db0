import { expect } from 'chai';
import sharp from 'sharp';
import { buildCsiCommand, CsiSource } from '../device/camera/csi-source.ts';
import { lavfiMjpegArgs, ProcessRecorder, SourceJar, waitFor, waitForFrameAfter } from './fixtures/camera/helpers.ts';
import { requirePrograms } from './support/requires.ts';

describe('camera: CSI backend (Jetson, Raspberry Pi)', () => {
  const jar = new SourceJar();
  let recorder = new ProcessRecorder();

  afterEach(async () => {
    await jar.stopAll();
    const leftovers = recorder.running().length;
    recorder.killAll();
    expect(leftovers, 'processes left running after stop()').to.equal(0);
  });

  it('builds the Jetson nvarguscamerasrc pipeline', () => {
    expect(buildCsiCommand('jetson', { width: 1280, height: 720, fps: 15 })).to.deep.equal({
      command: 'gst-launch-1.0',
      args: [
        '-q', '-e',
        'nvarguscamerasrc', 'sensor-id=0',
        '!', 'video/x-raw(memory:NVMM),width=1280,height=720,framerate=15/1',
        '!', 'nvvidconv',
        '!', 'video/x-raw,format=I420',
        '!', 'jpegenc', 'quality=85',
        '!', 'fdsink', 'fd=1',
      ],
      stopSignal: 'SIGINT',
    });
  });

  it('builds the Raspberry Pi rpicam-vid command', () => {
    expect(buildCsiCommand('pi', { width: 1920, height: 1080, fps: 30, sensorId: 1 })).to.deep.equal({
      command: 'rpicam-vid',
      args: [
        '--camera', '1', '-t', '0', '-n', '--codec', 'mjpeg',
        '--width', '1920', '--height', '1080', '--framerate', '30', '--flush', '-o', '-',
      ],
    });
  });

  it('builds the Raspberry Pi libcamerasrc pipeline when asked for GStreamer', () => {
    expect(buildCsiCommand('pi', { width: 640, height: 480, fps: 10, piCapture: 'libcamerasrc', jpegQuality: 70 })).to.deep.equal({
      command: 'gst-launch-1.0',
      args: [
        '-q', '-e',
        'libcamerasrc',
        '!', 'video/x-raw,width=640,height=480,framerate=10/1',
        '!', 'videoconvert',
        '!', 'jpegenc', 'quality=70',
        '!', 'fdsink', 'fd=1',
      ],
      stopSignal: 'SIGINT',
    });
  });

  for (const board of ['jetson', 'pi'] as const) {
    it(`runs the ${board} command and splits its stdout (a real ffmpeg stands in for the capture program)`, async function () {
      requirePrograms(this, 'ffmpeg');
      recorder = new ProcessRecorder(() => ['ffmpeg', lavfiMjpegArgs(640, 360, 10)]);
      const source = jar.add(new CsiSource(board, { width: 640, height: 360, fps: 10, stallMs: 2000, spawn: recorder.spawn }));
      await source.start();
      await waitForFrameAfter(source, 2, 10_000);

      const expected = buildCsiCommand(board, { width: 640, height: 360, fps: 10 });
      expect(recorder.calls[0]).to.include({ command: expected.command });
      expect(recorder.calls[0].args).to.deep.equal(expected.args);
      const meta = await sharp(source.latest()?.jpeg).metadata();
      expect([meta.format, meta.width, meta.height]).to.deep.equal(['jpeg', 640, 360]);
      expect(source.health()).to.include({ kind: 'csi', source: 'csi', state: 'running' });

      await source.stop();
      // gst-launch -e turns SIGINT into EOS, which lets nvargus-daemon release the sensor.
      expect(recorder.calls[0].signals).to.deep.equal([expected.stopSignal ?? 'SIGTERM']);
      expect(recorder.running()).to.have.length(0);
    });
  }

  it('says which package to install when the capture program is missing', async () => {
    recorder = new ProcessRecorder(() => ['/nonexistent/rpicam-vid', []]);
    const source = jar.add(new CsiSource('pi', { width: 640, height: 480, fps: 10, stallMs: 1000, spawn: recorder.spawn }));
    await source.start();
    await waitFor(() => source.health().state === 'failed', 5000, 'state failed');
    expect(source.health().lastError).to.equal('rpicam-vid is not installed: sudo apt install rpicam-apps.');
  });
});
