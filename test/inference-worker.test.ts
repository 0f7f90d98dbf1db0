import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ModelFileError } from '../device/inference/manifest.ts';
import { InferenceTimeoutError, WorkerModel } from '../device/inference/worker-model.ts';
import { writeBenchClassifier, writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { captureLogger } from './support/https-fixtures.ts';

describe('inference worker (onnxruntime off the main thread)', function () {
  this.timeout(60_000);
  let dir: string;
  let jpeg: Buffer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-worker-'));
    jpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 90, g: 160, b: 40 } } }).jpeg().toBuffer();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the main thread free while a model runs', async () => {
    // A large input makes one run take long enough for timers on the main thread to fire meanwhile.
    const bench = await writeBenchClassifier(join(dir, 'big'), { size: 640 });
    const model = await WorkerModel.load(bench.onnxPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir, logLevel: 'silent' });
    try {
      const input = await model.prepare(jpeg);
      // onnxruntime-node's run is synchronous under its promise: on the main thread no timer could
      // fire until it returned. Count event-loop turns (1 ms timers) completed while the run is out.
      let done = false;
      const run = model.run(input).finally(() => (done = true));
      let turns = 0;
      while (!done) {
        await new Promise((r) => setTimeout(r, 1));
        turns++;
      }
      await run;
      input.release();
      // On the main thread exactly one turn completes (the one that finds the run already done); off it,
      // timers keep firing while the run is out. How many depends on the machine's load (4 on a busy
      // 2-core machine, dozens on a quiet one), so only "more than one" is the behaviour.
      expect(turns).to.be.at.least(2);
    } finally {
      await model.close();
    }
  });

  it('treats a run past its time limit as stuck: rejects it, restarts the worker, and serves again', async () => {
    const bench = await writeBenchClassifier(join(dir, 'slow'), { size: 640 });
    const model = await WorkerModel.load(bench.onnxPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir, logLevel: 'silent', runTimeoutMs: 1 });
    const restarts: string[] = [];
    model.on('restart', (e: { reason: string }) => restarts.push(e.reason));
    try {
      const input = await model.prepare(jpeg);
      let error: unknown;
      try {
        await model.run(input);
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(InferenceTimeoutError);
      expect(restarts).to.have.length(1);
      expect(restarts[0]).to.match(/longer than 1 ms/);
      expect(model.restarts).to.equal(1);
      model.runTimeoutMs = 30_000;
      const again = await model.run(input);
      expect(again.top).to.have.length(5);
      input.release();
    } finally {
      await model.close();
    }
  });

  it('answers runs while the model on disk cannot be reloaded, refuses another model, and recovers once it is back', async () => {
    const modelDir = join(dir, 'mended');
    const bench = await writeBenchClassifier(modelDir, { size: 640 });
    const good = { onnx: readFileSync(bench.onnxPath), json: readFileSync(bench.manifestPath) };
    const { logger, lines } = captureLogger('info');
    const model = await WorkerModel.load(bench.onnxPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir, logLevel: 'silent', runTimeoutMs: 1, logger });
    const logged = async (pattern: RegExp) => {
      while (!lines.some((l) => pattern.test(l))) await new Promise((r) => setTimeout(r, 50));
    };
    const failure = async () => {
      try {
        await model.run(input);
      } catch (err) {
        return err as Error;
      }
      throw new Error('the run was expected to fail');
    };
    const input = await model.prepare(jpeg);
    try {
      // an update half done: the worker is restarted (its run timed out) while the file is damaged
      writeFileSync(bench.onnxPath, good.onnx.subarray(0, 40));
      expect(await failure()).to.be.instanceOf(InferenceTimeoutError);
      model.runTimeoutMs = 300;
      const waiting = await failure();
      expect(waiting).to.be.instanceOf(InferenceTimeoutError);
      expect(waiting.message).to.match(/still restarting after 300 ms/);
      await logged(/SHA-256/);
      // another, valid model in its place is not loaded under the running one's preprocessing either
      await writeBenchClassifier(modelDir, { size: 320 });
      await logged(/the model files changed on disk since start/);
      expect((await failure()).message).to.match(/still restarting/);
      // the original back: the restart goes through and runs are served again
      writeFileSync(bench.onnxPath, good.onnx);
      writeFileSync(bench.manifestPath, good.json);
      model.runTimeoutMs = 30_000;
      expect((await model.run(input)).top).to.have.length(5);
      expect(model.restarts).to.equal(1);
    } finally {
      input.release();
      await model.close();
    }
  });

  it('reports a damaged model file as a ModelFileError from the worker, one clear message', async () => {
    const written = await writeTestClassifier(join(dir, 'damaged'));
    writeFileSync(written.onnxPath, Buffer.from(written.bytes).subarray(0, 40));
    let error: unknown;
    try {
      await WorkerModel.load(written.onnxPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir, logLevel: 'silent' });
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(ModelFileError);
    expect((error as Error).message).to.match(/SHA-256/i);
  });
});
