import { expect } from 'chai';
import sharp from 'sharp';
import { redactUrl, redactUrlsIn } from '../device/camera/camera-spec.ts';
import { buildFfmpegArgs, FfmpegSource } from '../device/camera/ffmpeg-source.ts';
import { lavfiInput, ProcessRecorder, SourceJar, waitFor } from './fixtures/camera/helpers.ts';
import { requirePrograms } from './support/requires.ts';

describe('camera: ffmpeg backend (v4l2, rtsp)', () => {
  const jar = new SourceJar();
  let recorder = new ProcessRecorder();

  beforeEach(() => {
    recorder = new ProcessRecorder();
  });

  afterEach(async () => {
    await jar.stopAll();
    const leftovers = recorder.running().length;
    recorder.killAll();
    expect(leftovers, 'ffmpeg processes left running after stop()').to.equal(0);
  });

  it('builds the v4l2 argv: MJPEG from the camera, re-encoded to the configured size on stdout', () => {
    expect(buildFfmpegArgs({ kind: 'v4l2', device: '/dev/video2' }, { width: 1280, height: 720, fps: 15 })).to.deep.equal([
      '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error',
      '-f', 'v4l2', '-input_format', 'mjpeg', '-video_size', '1280x720', '-framerate', '15', '-i', '/dev/video2',
      '-an', '-vf', 'fps=15,scale=1280:720', '-c:v', 'mjpeg', '-q:v', '4', '-f', 'mjpeg', '-flush_packets', '1', 'pipe:1',
    ]);
  });

  it('builds the rtsp argv over TCP', () => {
    const args = buildFfmpegArgs({ kind: 'rtsp', url: 'rtsp://cam.local/stream1' }, { width: 640, height: 480, fps: 10 });
    expect(args.slice(5, 11)).to.deep.equal(['-rtsp_transport', 'tcp', '-fflags', 'nobuffer', '-i', 'rtsp://cam.local/stream1']);
    expect(args).to.include('fps=10,scale=640:480');
    expect(args.at(-1)).to.equal('pipe:1');
  });

  it('replaces only the input part when inputArgs is given', () => {
    const args = buildFfmpegArgs({ kind: 'v4l2', device: '/dev/video0' }, { width: 320, height: 240, fps: 5, inputArgs: ['-f', 'lavfi', '-i', 'x'] });
    expect(args).to.not.include('/dev/video0');
    expect(args.slice(5, 9)).to.deep.equal(['-f', 'lavfi', '-i', 'x']);
  });

  it('keeps RTSP passwords out of the source name', () => {
    expect(redactUrl('rtsp://admin:s3cret@10.0.0.5:554/h264')).to.equal('rtsp://admin:***@10.0.0.5:554/h264');
    expect(redactUrl('rtsp://10.0.0.5/h264')).to.equal('rtsp://10.0.0.5/h264');
    // the forms that used to leak: a token as the whole userinfo, an "@" inside the password, query credentials
    expect(redactUrl('rtsp://t0ken@cam/live')).to.equal('rtsp://***@cam/live');
    expect(redactUrl('rtsp://admin:p@ss@cam/x')).to.equal('rtsp://admin:***@cam/x');
    expect(redactUrl('rtsp://cam/live?user=admin&password=hunter2&channel=1')).to.equal('rtsp://cam/live?user=***&password=***&channel=1');
    expect(redactUrl('rtsp://cam:554?token=abc')).to.equal('rtsp://cam:554?token=***');
    expect(redactUrlsIn('camera rtsp://admin:p@ss@cam/x is restarting: rtsp://admin:p@ss@cam/x: Connection refused'))
      .to.equal('camera rtsp://admin:***@cam/x is restarting: rtsp://admin:***@cam/x: Connection refused');
    const source = new FfmpegSource({ kind: 'rtsp', url: 'rtsp://admin:s3cret@10.0.0.5/h264' }, { width: 64, height: 48, fps: 1, stallMs: 1000 });
    expect(source.health().source).to.not.include('s3cret');
  });

  it('streams valid 1280x720 JPEG frames from a real ffmpeg and stops it cleanly', async function () {
    requirePrograms(this, 'ffmpeg');
    const source = jar.add(new FfmpegSource({ kind: 'v4l2', device: '/dev/video0' }, {
      width: 1280, height: 720, fps: 15, stallMs: 2000, spawn: recorder.spawn, inputArgs: lavfiInput(),
    }));
    const seqs: number[] = [];
    source.on('frame', (frame: { seq: number }) => seqs.push(frame.seq));
    await source.start();
    await waitFor(() => seqs.length >= 5, 10_000, 'five frames');

    const frame = source.latest();
    expect(frame?.jpeg, 'latest() holds a JPEG').to.be.instanceOf(Buffer);
    const meta = await sharp(frame?.jpeg).metadata();
    expect([meta.format, meta.width, meta.height]).to.deep.equal(['jpeg', 1280, 720]);
    const { info } = await sharp(frame?.jpeg).raw().toBuffer({ resolveWithObject: true });
    expect(info.width * info.height).to.equal(1280 * 720);
    expect(seqs.slice(0, 5)).to.deep.equal([1, 2, 3, 4, 5]);

    const health = source.health();
    expect(health).to.include({ kind: 'v4l2', source: 'v4l2:/dev/video0', state: 'running', restarts: 0, lastError: null });
    expect(recorder.calls).to.have.length(1);
    expect(recorder.calls[0].command).to.equal('ffmpeg');

    await source.stop();
    expect(source.health().state).to.equal('stopped');
    expect(recorder.running()).to.have.length(0);
  });

  it('reports ffmpeg errors with its own words and what to check', async function () {
    requirePrograms(this, 'ffmpeg');
    const source = jar.add(new FfmpegSource({ kind: 'v4l2', device: '/dev/video0' }, {
      width: 320, height: 240, fps: 5, stallMs: 2000, spawn: recorder.spawn,
      inputArgs: ['-f', 'lavfi', '-i', 'nosuchsource=size=320x240'],
      backoff: { initialMs: 60_000 },
    }));
    await source.start();
    await waitFor(() => source.health().lastError !== null, 10_000, 'the exit to be reported');
    const health = source.health();
    expect(health.state).to.equal('restarting');
    expect(health.lastError).to.match(/ffmpeg reading \/dev\/video0 exited with code \d+/);
    expect(health.lastError).to.match(/nosuchsource/i);
    expect(health.lastError).to.include('v4l2-ctl -d /dev/video0 --list-formats-ext');
  });
});
