import { expect } from 'chai';
import { FfmpegSource } from '../device/camera/ffmpeg-source.ts';
import { createFrameSource } from '../device/camera/select-source.ts';
import { DEFAULT_BACKOFF } from '../device/camera/source-options.ts';
import { backoffDelay } from '../device/supervision/backoff.ts';
import { SyntheticSource } from '../device/camera/synthetic-source.ts';
import { lavfiInput, ProcessRecorder, SourceJar, waitFor, waitForFrameAfter, withClockSetBack } from './fixtures/camera/helpers.ts';
import { requirePrograms } from './support/requires.ts';

const SMALL = { width: 320, height: 240, fps: 10 };

describe('camera: supervision (restart, stall, backoff)', () => {
  const jar = new SourceJar();
  let recorder = new ProcessRecorder();

  afterEach(async () => {
    await jar.stopAll();
    const leftovers = recorder.running().length;
    recorder.killAll();
    expect(leftovers, 'child processes left running after stop()').to.equal(0);
  });

  function lavfiSource(stallMs = 2000, extra: { startTimeoutMs?: number } = {}) {
    return jar.add(new FfmpegSource({ kind: 'v4l2', device: '/dev/video0' }, {
      ...SMALL, stallMs, ...extra, spawn: recorder.spawn, inputArgs: lavfiInput(SMALL.width, SMALL.height, SMALL.fps),
      backoff: { initialMs: 100 },
    }));
  }

  it('restarts ffmpeg after it is killed with SIGKILL and delivers frames again', async function () {
    requirePrograms(this, 'ffmpeg');
    recorder = new ProcessRecorder();
    const source = lavfiSource();
    const states: string[] = [];
    source.on('state', (state: string) => states.push(state));
    await source.start();
    const before = await waitForFrameAfter(source, 0, 10_000);

    const first = recorder.children[0];
    first.kill('SIGKILL');
    await waitFor(() => source.health().restarts >= 1 && recorder.calls.length >= 2, 10_000, 'a restart');
    await waitForFrameAfter(source, before + 1, 10_000);

    const health = source.health();
    expect(health.state).to.equal('running');
    expect(health.restarts).to.be.at.least(1);
    expect(health.lastError).to.match(/ffmpeg reading \/dev\/video0 was killed by SIGKILL/);
    expect(states).to.include.members(['starting', 'running', 'restarting']);
    expect(first.signalCode).to.equal('SIGKILL');
  });

  it('restarts a process that stops delivering (frozen with SIGSTOP) once stallMs passes', async function () {
    requirePrograms(this, 'ffmpeg');
    recorder = new ProcessRecorder();
    const source = lavfiSource(400);
    await source.start();
    const before = await waitForFrameAfter(source, 0, 10_000);

    const frozen = recorder.children[0];
    frozen.kill('SIGSTOP');
    await waitFor(() => source.health().restarts >= 1, 10_000, 'the stall restart');
    await waitForFrameAfter(source, before + 1, 10_000);

    expect(source.health().lastError).to.match(/stopped delivering frames \(none for \d+ ms\)/);
    // A stopped process ignores SIGTERM; the supervisor has to escalate to SIGKILL.
    await waitFor(() => frozen.signalCode !== null, 5000, 'the frozen ffmpeg to be killed');
    expect(frozen.signalCode).to.equal('SIGKILL');
  });

  it('still notices a stall when the wall clock is set back meanwhile (stall timing is monotonic)', async function () {
    requirePrograms(this, 'ffmpeg');
    recorder = new ProcessRecorder();
    const source = lavfiSource(400);
    await source.start();
    await waitForFrameAfter(source, 0, 10_000);
    await withClockSetBack(async () => {
      recorder.children[0]!.kill('SIGSTOP');
      await waitFor(() => source.health().restarts >= 1, 10_000, 'the stall restart with the clock set back');
    });
    expect(source.health().lastError).to.match(/stopped delivering frames \(none for \d+ ms\)/);
  });

  it('keeps pacing frames when the wall clock is set back', async () => {
    // a stall restart (which starts a new timeline) must not be what rescues it
    const source = jar.add(new SyntheticSource({ ...SMALL, stallMs: 60_000, encoding: 'raw' }));
    await source.start();
    const seq = await waitForFrameAfter(source, 0, 10_000);
    // at 10 fps, five more frames take half a second; paced on the wall clock they waited an hour
    await withClockSetBack(() => waitForFrameAfter(source, seq + 5, 5_000));
  });

  it('restarts a process that starts but never outputs anything (sleep)', async () => {
    recorder = new ProcessRecorder(() => ['sleep', ['30']]);
    const source = lavfiSource(300, { startTimeoutMs: 300 });
    await source.start();
    await waitFor(() => source.health().restarts >= 1 && recorder.calls.length >= 2, 10_000, 'a second attempt');

    const health = source.health();
    expect(health.state).to.be.oneOf(['restarting', 'starting']);
    expect(health.framesDelivered).to.equal(0);
    expect(health.lastError).to.match(/started but delivered no frame within \d+ ms/);
    expect(health.lastError).to.include('/dev/video0');
    // The hung sleep of the first attempt has been ended, not left behind.
    await waitFor(() => recorder.children[0].signalCode !== null, 5000, 'the first sleep to be killed');
  });

  it('does not throw for a missing device; it keeps retrying and says what to check', async () => {
    recorder = new ProcessRecorder();
    const { source } = await createFrameSource('v4l2:/dev/video99', {
      ...SMALL, stallMs: 1000, spawn: recorder.spawn, backoff: { initialMs: 50, maxMs: 100 },
    });
    jar.add(source);
    await source.start();
    expect(source.health().state).to.equal('restarting');
    expect(source.health().lastError).to.equal(
      'Camera device /dev/video99 does not exist. Check that the USB camera is plugged in (ls /dev/video*, ' +
        'v4l2-ctl --list-devices) and that VEGKIOSK_CAMERA names the right device.',
    );
    await waitFor(() => source.health().restarts >= 2, 5000, 'two retries');
    expect(source.health().state).to.equal('restarting');
    expect(recorder.calls, 'ffmpeg is not started for a device that is not there').to.have.length(0);
  });

  it('reports a missing ffmpeg as failed, with how to install it', async () => {
    recorder = new ProcessRecorder();
    const source = jar.add(new FfmpegSource({ kind: 'rtsp', url: 'rtsp://cam.invalid/x' }, {
      ...SMALL, stallMs: 1000, spawn: recorder.spawn, ffmpegPath: '/nonexistent/ffmpeg',
    }));
    await source.start();
    await waitFor(() => source.health().state === 'failed', 5000, 'state failed');
    expect(source.health().lastError).to.include('ffmpeg is not installed').and.include('apt install ffmpeg');
  });

  it('stop() right after start() leaves no process behind', async function () {
    requirePrograms(this, 'ffmpeg');
    recorder = new ProcessRecorder();
    const source = lavfiSource();
    const starting = source.start();
    await source.stop();
    await starting;
    expect(source.health().state).to.equal('stopped');
    expect(recorder.running()).to.have.length(0);
  });

  it('backs off from 0.5 s doubling to 30 s, and retries permanent failures at the ceiling', () => {
    const delays = Array.from({ length: 9 }, (_, failures) => backoffDelay(DEFAULT_BACKOFF, failures));
    expect(delays).to.deep.equal([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(backoffDelay(DEFAULT_BACKOFF, 0, true)).to.equal(30_000);
    expect(backoffDelay(DEFAULT_BACKOFF, 10_000)).to.equal(30_000);
  });

  it('keeps delivering when a frame listener throws', async () => {
    recorder = new ProcessRecorder();
    const source = jar.add(new SyntheticSource({ ...SMALL, stallMs: 1000, encoding: 'raw' }));
    source.on('frame', () => {
      throw new Error('consumer bug');
    });
    await source.start();
    await waitForFrameAfter(source, 2, 5000);
    expect(source.health()).to.include({ state: 'running', restarts: 0 });
  });
});
