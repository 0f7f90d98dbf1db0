import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Frame, FrameSource, FrameSourceEvents, SourceHealth } from '../device/camera/frame-source.ts';
import { WorkerModel } from '../device/inference/worker-model.ts';
import { Pipeline } from '../device/pipeline/pipeline.ts';
import { ResultBus } from '../device/pipeline/result-bus.ts';
import { changedPercent, sceneThumbnail, SceneRest } from '../device/pipeline/scene-rest.ts';
import type { PipelineResult } from '../device/results/pipeline-result.ts';
import { resultMessage } from '../device/results/result-message.ts';
import { PACKAGE_ROOT } from '../device/config/load-config.ts';
import { tempDir } from './support/https-fixtures.ts';

const PHOTOS = join(PACKAGE_ROOT, 'models', 'demo-photos');

/**
 * A webcam frame of a photo: 1280x720, quality 85, 4:2:0. `noise` shifts brightness and quality a
 * little, as two frames of a still scene from a real camera never have the same bytes.
 */
function cameraFrame(photo: string, noise = 0): Promise<Buffer> {
  return sharp(join(PHOTOS, photo)).resize(1280, 720, { fit: 'cover' }).linear(1, noise)
    .jpeg({ quality: 85 - (noise % 3), chromaSubsampling: '4:2:0' }).toBuffer();
}

/** A camera the test feeds frame by frame. */
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

describe('rest when nothing moves (real JPEGs, real sharp, the real default classifier)', function () {
  let model: WorkerModel;
  let data: ReturnType<typeof tempDir>;
  let carrot: Buffer[];
  let tomatoes: Buffer;
  let running: { pipeline: Pipeline; source: HandFedSource } | null = null;

  before(async () => {
    data = tempDir();
    model = await WorkerModel.load(join(PACKAGE_ROOT, 'models', 'vegetables-v2.onnx'), { executionProviders: ['cpu'], threads: 1, dataDir: data.path, logLevel: 'silent' });
    carrot = await Promise.all([0, 1, 2, 3].map((noise) => cameraFrame('04-carrot.jpg', noise)));
    tomatoes = await cameraFrame('11-tomatoes.jpg');
  });

  afterEach(async () => {
    await running?.pipeline.stop();
    running = null;
  });

  after(async () => {
    await model?.close();
    data?.remove();
  });

  function start(rest: SceneRest): { bus: ResultBus; source: HandFedSource; results: PipelineResult[] } {
    const source = new HandFedSource();
    const bus = new ResultBus();
    const results: PipelineResult[] = [];
    bus.on('result', (r) => results.push(r));
    const pipeline = new Pipeline({ source, model, bus, rest });
    running = { pipeline, source };
    pipeline.start();
    return { bus, source, results };
  }

  /** Pushes a frame and waits for its own result (reused or inferred); frames are never skipped here. */
  async function feed(source: HandFedSource, results: PipelineResult[], jpeg: Buffer): Promise<PipelineResult> {
    const frame = source.push(jpeg);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const own = results.find((r) => r.seq === frame.seq);
      if (own) return own;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no result for frame ${frame.seq}; results: ${results.map((r) => r.seq).join(',')}`);
  }

  it('sees a camera\'s noise on a still scene as no change, and an item put down as one', async () => {
    const thumbs = await Promise.all([...carrot, tomatoes].map((jpeg) => sceneThumbnail({ seq: 1, capturedAt: 0, jpeg })));
    for (const noisy of thumbs.slice(1, 4)) expect(changedPercent(thumbs[0]!, noisy!)).to.be.below(1);
    expect(changedPercent(thumbs[0]!, thumbs[4]!)).to.be.above(20);
  });

  it('re-publishes an unchanged scene marked as reused, and recognises a changed scene in the next frame', async () => {
    const { source, results } = start(new SceneRest({ changePercent: 1, refreshMs: 60_000 }));
    const first = await feed(source, results, carrot[0]!);
    expect(first.label).to.equal('Carrots');
    expect(first.reused).to.equal(undefined);

    for (const noisy of carrot.slice(1)) {
      const again = await feed(source, results, noisy);
      expect(again.reused, `frame ${again.seq}`).to.equal(true);
      expect(again.label).to.equal('Carrots');
      expect(again.latencyMs.inference).to.equal(0);
      expect(resultMessage(again)).to.include({ reused: true, label: 'Carrots', seq: again.seq });
    }

    // The very next frame after the change is inferred afresh and names the new item.
    const changed = await feed(source, results, tomatoes);
    expect(changed.reused).to.equal(undefined);
    expect(changed.label).to.equal('Tomato');
    expect(changed.latencyMs.inference).to.be.above(0);
    expect(resultMessage(changed)).to.not.have.property('reused');
    const stats = running!.pipeline.stats();
    expect(stats.framesProcessed).to.equal(2);
    expect(stats.framesReused).to.equal(3);
  });

  it('infers a still scene again once the refresh interval has passed, so slow drift cannot stall it', async () => {
    const rest = new SceneRest({ changePercent: 1, refreshMs: 400 });
    const { source, results } = start(rest);
    await feed(source, results, carrot[0]!);
    const startedAt = Date.now();
    let i = 0;
    while (Date.now() - startedAt < 1_500) {
      await feed(source, results, carrot[i++ % carrot.length]!);
      await new Promise((r) => setTimeout(r, 30));
    }
    const inferred = results.filter((r) => !r.reused);
    const reused = results.filter((r) => r.reused);
    // 1.5 s of a still scene with a 0.4 s refresh: about three refreshes, and every other frame reused.
    expect(rest.refreshes).to.be.within(2, 4);
    expect(inferred.length).to.equal(1 + rest.refreshes);
    expect(reused.length).to.be.above(inferred.length);
    for (const r of inferred) expect(r.label).to.equal('Carrots');
  });

  it('never reuses a result from before the learned classes changed', async () => {
    let generation = 1;
    const { source, results } = start(new SceneRest({ changePercent: 1, refreshMs: 60_000, generation: () => generation }));
    await feed(source, results, carrot[0]!);
    expect((await feed(source, results, carrot[1]!)).reused).to.equal(true);
    generation++; // a class taught or forgotten
    const after = await feed(source, results, carrot[2]!);
    expect(after.reused).to.equal(undefined);
    expect(after.latencyMs.inference).to.be.above(0);
    expect((await feed(source, results, carrot[3]!)).reused).to.equal(true);
  });

  it('with rest off every frame is inferred', async () => {
    const source = new HandFedSource();
    const bus = new ResultBus();
    const results: PipelineResult[] = [];
    bus.on('result', (r) => results.push(r));
    const pipeline = new Pipeline({ source, model, bus });
    running = { pipeline, source };
    pipeline.start();
    for (const jpeg of carrot) await feed(source, results, jpeg);
    expect(results.every((r) => r.reused === undefined && r.latencyMs.inference > 0)).to.equal(true);
    expect(pipeline.stats()).to.not.have.property('framesReused');
  });
});
