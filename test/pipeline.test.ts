import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { FfmpegSource } from '../device/camera/ffmpeg-source.ts';
import type { Frame, FrameSource, FrameSourceEvents, SourceHealth } from '../device/camera/frame-source.ts';
import { ReplaySource } from '../device/camera/replay-source.ts';
import type { ImageInput, Model, PreparedInput, Prediction } from '../device/inference/model.ts';
import { WorkerModel } from '../device/inference/worker-model.ts';
import { DEFAULT_PREPARE_AHEAD, Pipeline } from '../device/pipeline/pipeline.ts';
import { ResultBus } from '../device/pipeline/result-bus.ts';
import type { PipelineResult } from '../device/results/pipeline-result.ts';
import { writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { capturingLogger } from './support/log-capture.ts';
import { waitFor, withClockSetBack } from './fixtures/camera/helpers.ts';
import { requirePrograms } from './support/requires.ts';

const solid = (r: number, g: number, b: number) =>
  sharp({ create: { width: 320, height: 240, channels: 3, background: { r, g, b } } }).jpeg().toBuffer();

/** A frame source the test feeds by hand, so bursts and bad frames happen exactly when wanted. */
class HandFedSource extends EventEmitter<FrameSourceEvents> implements FrameSource {
  readonly kind = 'hand-fed';
  readonly source = 'test:hand-fed';
  private last: Frame | null = null;
  private seq = 0;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  latest(): Frame | null {
    return this.last;
  }
  push(jpeg: Buffer): Frame {
    this.last = { seq: ++this.seq, capturedAt: Date.now(), jpeg };
    this.emit('frame', this.last);
    return this.last;
  }
  health(): SourceHealth {
    return { source: this.source, kind: this.kind, state: 'running', framesDelivered: this.seq, lastFrameAt: null, restarts: 0, lastError: null };
  }
}

/** Wraps the real model and records the order in which stages start and finish. */
class RecordingModel implements Model {
  readonly events: string[] = [];
  private prepares = 0;
  private runs = 0;
  constructor(private readonly inner: Model) {}
  get manifest() { return this.inner.manifest; }
  get executionProvider() { return this.inner.executionProvider; }
  async prepare(image: ImageInput): Promise<PreparedInput> {
    const n = ++this.prepares;
    this.events.push(`prepare ${n} start`);
    const out = await this.inner.prepare(image);
    this.events.push(`prepare ${n} end`);
    return out;
  }
  async run(input: PreparedInput): Promise<Prediction> {
    const n = ++this.runs;
    this.events.push(`run ${n} start`);
    const out = await this.inner.run(input);
    this.events.push(`run ${n} end`);
    return out;
  }
  close() { return this.inner.close(); }
}

/**
 * A RecordingModel whose first run waits for release() before it starts: the pipeline sees frame 1 in
 * inference ("hold 1" recorded) for as long as the test wants, whatever the machine's speed.
 */
function holdFirstRun(recording: RecordingModel): { model: Model; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let runs = 0;
  const model: Model = {
    get manifest() { return recording.manifest; },
    get executionProvider() { return recording.executionProvider; },
    close: () => recording.close(),
    prepare: (image) => recording.prepare(image),
    run: async (input) => {
      if (++runs > 1) return recording.run(input);
      recording.events.push('hold 1');
      await gate;
      return recording.run(input);
    },
  };
  return { model, release };
}

/** Resolves when `event` has been recorded, or after `ms` (so a pipeline that never does it fails the test, not the timeout). */
async function recorded(recording: RecordingModel, event: string, ms = 5000): Promise<void> {
  for (let waited = 0; !recording.events.includes(event) && waited < ms; waited += 5) await new Promise((r) => setTimeout(r, 5));
}

function collect(bus: ResultBus, count: number): Promise<PipelineResult[]> {
  const results: PipelineResult[] = [];
  return new Promise((resolve) => {
    const on = (r: PipelineResult) => {
      results.push(r);
      if (results.length === count) {
        bus.off('result', on);
        resolve(results);
      }
    };
    bus.on('result', on);
  });
}

describe('pipeline (real onnxruntime worker, real sharp, real sources)', function () {
  this.timeout(60_000);
  let dir: string;
  let model: WorkerModel;
  let modelPath: string;
  let red: Buffer;
  let blue: Buffer;
  let expectedRed: Prediction;
  let expectedBlue: Prediction;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-pipeline-'));
    const written = await writeTestClassifier(join(dir, 'model'));
    modelPath = written.onnxPath;
    model = await WorkerModel.load(written.onnxPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir, logLevel: 'silent' });
    red = await solid(220, 30, 30);
    blue = await solid(30, 30, 220);
    const run = async (jpeg: Buffer) => {
      const input = await model.prepare(jpeg);
      return model.run(input).finally(() => input.release());
    };
    expectedRed = await run(red);
    expectedBlue = await run(blue);
  });
  after(async () => {
    await model?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the test model tells red from blue (so the checks below can fail)', () => {
    expect(expectedRed.top[0].label).not.to.equal(expectedBlue.top[0].label);
  });

  it('turns replayed files into results on the bus with the frame they came from', async () => {
    const images = join(dir, 'replay');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(images);
    writeFileSync(join(images, 'a-red.jpg'), red);
    writeFileSync(join(images, 'b-blue.jpg'), blue);
    const source = new ReplaySource(images, { width: 320, height: 240, fps: 20, stallMs: 2000 });
    const bus = new ResultBus();
    const pipeline = new Pipeline({ source, model, bus });
    const results = collect(bus, 6);
    await source.start();
    pipeline.start();
    const got = await results;
    await pipeline.stop();
    await source.stop();
    for (const r of got) {
      const expected = r.jpeg!.equals(red) ? expectedRed : expectedBlue;
      expect(r.top).to.deep.equal(expected.top);
      expect(r.latencyMs.total).to.be.at.least(r.latencyMs.inference);
      expect(r.capturedAt).to.be.a('number');
    }
    expect(new Set(got.map((r) => r.top[0].label)).size).to.equal(2);
    const seqs = got.map((r) => r.seq);
    expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b));
    const stats = pipeline.stats();
    expect(stats.framesProcessed).to.be.at.least(6);
    expect(stats.state).to.equal('stopped');
  });

  it('reports itself stalled when results stop, also with the wall clock set back (the watchdog reads this)', async () => {
    const source = new HandFedSource();
    const bus = new ResultBus();
    const pipeline = new Pipeline({ source, model, bus, stallAfterMs: 300 });
    pipeline.start();
    try {
      const first = collect(bus, 1);
      source.push(red);
      await first;
      expect(pipeline.stats().state).to.equal('running');
      expect(pipeline.stats().sinceLastResultMs).to.be.a('number');
      await withClockSetBack(() => waitFor(() => pipeline.stats().state === 'stalled', 5_000, 'the pipeline to report stalled'));
    } finally {
      await pipeline.stop();
    }
  });

  it('takes the newest frame after a burst and counts the rest as dropped', async () => {
    const source = new HandFedSource();
    const bus = new ResultBus();
    const pipeline = new Pipeline({ source, model, bus });
    pipeline.start();
    const first = collect(bus, 1);
    source.push(red);
    await first;
    // Five frames arrive while the pipeline is idle-waiting: only the last may be inferred.
    const next = collect(bus, 1);
    for (let i = 0; i < 4; i++) source.push(red);
    const newest = source.push(blue);
    const [result] = await next;
    await pipeline.stop();
    expect(result.seq).to.equal(newest.seq);
    expect(result.top).to.deep.equal(expectedBlue.top);
    expect(pipeline.stats().framesDropped).to.equal(4);
  });

  it('prepares the next frame while the current one is in inference', async () => {
    // Frame 1's inference is held until frame 2's preprocessing has started (or 5 s have passed): a
    // pipeline that prepared only between inferences would never start it, however fast the stages are.
    const recording = new RecordingModel(model);
    const held = holdFirstRun(recording);
    const source = new HandFedSource();
    const bus = new ResultBus();
    const pipeline = new Pipeline({ source, model: held.model, bus });
    pipeline.start();
    const results = collect(bus, 2);
    source.push(red);
    await recorded(recording, 'hold 1');
    source.push(red);
    await recorded(recording, 'prepare 2 start');
    held.release();
    await results;
    await pipeline.stop();
    const e = recording.events;
    // Frame 2's preprocessing starts before frame 1's inference has finished.
    expect(e.indexOf('prepare 2 start')).to.be.greaterThan(-1);
    expect(e.indexOf('prepare 2 start')).to.be.lessThan(e.indexOf('run 1 end'));
  });

  it('with two decode lanes, results still come out in frame order and every frame is accounted for', async () => {
    const source = new HandFedSource();
    const bus = new ResultBus();
    const pipeline = new Pipeline({ source, model, bus, prepareAhead: 2 });
    const feeder = setInterval(() => source.push(Math.random() < 0.5 ? red : blue), 1);
    pipeline.start();
    const got = await collect(bus, 30);
    clearInterval(feeder);
    await pipeline.stop();
    const seqs = got.map((r) => r.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).to.be.greaterThan(seqs[i - 1]);
    for (const r of got) expect(r.top).to.deep.equal((r.jpeg!.equals(red) ? expectedRed : expectedBlue).top);
    const stats = pipeline.stats();
    // Every frame the source delivered up to the last result was either inferred or counted as dropped.
    expect(stats.framesProcessed + stats.framesDropped).to.be.at.least(seqs[seqs.length - 1] - 1);
  });

  it("the worker model's buffer pool holds every default decode lane, the frame in inference and an upload", async () => {
    // With frame 1 held in inference and every lane holding a decoded frame, a photo uploaded to
    // /api/classify still gets a pooled buffer: no "pool exhausted" allocation, which would mean the
    // pool was sized for fewer lanes than the pipeline runs.
    const { logger, lines } = capturingLogger('warn');
    const own = await WorkerModel.load(modelPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir, logLevel: 'silent', logger });
    try {
      const recording = new RecordingModel(own);
      const held = holdFirstRun(recording);
      const source = new HandFedSource();
      const bus = new ResultBus();
      const pipeline = new Pipeline({ source, model: held.model, bus });
      pipeline.start();
      const results = collect(bus, DEFAULT_PREPARE_AHEAD + 1);
      source.push(red);
      await recorded(recording, 'hold 1');
      for (let lane = 2; lane <= DEFAULT_PREPARE_AHEAD + 1; lane++) {
        source.push(blue);
        await recorded(recording, `prepare ${lane} end`);
      }
      expect(recording.events.filter((e) => e.endsWith(' end') && e.startsWith('prepare'))).to.have.length(DEFAULT_PREPARE_AHEAD + 1);
      const upload = await own.prepare(red);
      upload.release();
      held.release();
      expect(await results).to.have.length(DEFAULT_PREPARE_AHEAD + 1);
      await pipeline.stop();
      expect(lines.filter((l) => l.includes('pool exhausted'))).to.deep.equal([]);
    } finally {
      await own.close();
    }
  });

  it('infers every decoded frame in order rather than dropping one that a newer decoded frame overtook', async () => {
    // Inference of frame 1 is held until both lanes have decoded a newer frame; the older of the two
    // must still be inferred (its decode is paid for), then the newer one.
    const recording = new RecordingModel(model);
    const held = holdFirstRun(recording);
    const source = new HandFedSource();
    const bus = new ResultBus();
    const pipeline = new Pipeline({ source, model: held.model, bus, prepareAhead: 2 });
    const got: PipelineResult[] = [];
    bus.on('result', (r) => got.push(r));
    pipeline.start();
    source.push(red);
    await recorded(recording, 'hold 1');
    const second = source.push(blue);
    await recorded(recording, 'prepare 2 end');
    const third = source.push(red);
    await recorded(recording, 'prepare 3 end');
    held.release();
    // Dropping the overtaken frame would leave 2 results, never 3: wait for 3 (at most 5 s), then compare.
    for (let waited = 0; got.length < 3 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    await pipeline.stop();
    expect(got.map((r) => r.seq)).to.deep.equal([1, second.seq, third.seq]);
    expect(got[1]!.top).to.deep.equal(expectedBlue.top);
    expect(pipeline.stats().framesDropped).to.equal(0);
  });

  it('skips a corrupt frame, counts it, and keeps going', async () => {
    const source = new HandFedSource();
    const bus = new ResultBus();
    const pipeline = new Pipeline({ source, model, bus });
    pipeline.start();
    const first = collect(bus, 1);
    source.push(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3])); // a JPEG cut off after its header
    await new Promise((r) => setTimeout(r, 200));
    source.push(blue);
    const [result] = await first;
    await pipeline.stop();
    expect(result.top).to.deep.equal(expectedBlue.top);
    expect(pipeline.stats().framesDropped).to.equal(1);
    expect(pipeline.stats().framesProcessed).to.equal(1);
  });

  it('runs on one long-running ffmpeg process (lavfi test source) end to end', async function () {
    requirePrograms(this, 'ffmpeg');
    const source = new FfmpegSource({ kind: 'v4l2', device: '/dev/video0' }, {
      width: 1280, height: 720, fps: 15, stallMs: 3000,
      inputArgs: ['-re', '-f', 'lavfi', '-i', 'testsrc=size=1280x720:rate=15'],
    } as ConstructorParameters<typeof FfmpegSource>[1]);
    const bus = new ResultBus();
    const pipeline = new Pipeline({ source, model, bus });
    const results = collect(bus, 3);
    await source.start();
    pipeline.start();
    const got = await results;
    await pipeline.stop();
    await source.stop();
    expect(got.every((r) => r.kind === 'classifier' && r.top.length > 0)).to.equal(true);
    expect(source.health().state).to.equal('stopped');
  });
});
