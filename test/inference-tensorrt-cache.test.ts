import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { capturingLogger } from './support/log-capture.ts';
import { bindingDirectory, sessionOptionsFor } from '../device/inference/execution-providers.ts';
import { AUTO_ORDER } from '../device/inference/provider-names.ts';
import { loadModel } from '../device/inference/onnx-model.ts';
import { makeTempModels, type TempModels } from './fixtures/inference/temp-models.ts';

// There is no TensorRT on the machines these tests run on: they check what vegkiosk asks of
// onnxruntime for TensorRT, and the onnxruntime-node behaviour that rules out TensorRT's own engine
// cache (vegkiosk's replacement, built with trtexec, is tested in inference-tensorrt-engine-cache.test.ts).
const TRT_LIBRARY = join(bindingDirectory(), 'libonnxruntime_providers_tensorrt.so');
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const ortEnvKeys = () => Object.keys(process.env).filter((k) => k.startsWith('ORT_TENSORRT_')).sort();

describe('inference: TensorRT and the engine cache onnxruntime-node cannot turn on', () => {
  let models: TempModels;
  before(async () => { models = await makeTempModels(); });
  after(async () => { await models.cleanup(); });

  it('no provider gets session config entries; tensorrt hands what it cannot run to cuda when cuda is a candidate', () => {
    for (const provider of AUTO_ORDER) {
      const options = sessionOptionsFor(provider, AUTO_ORDER, 2);
      expect(options, provider).to.not.have.property('extra');
      expect(options.intraOpNumThreads).to.equal(2);
    }
    expect(sessionOptionsFor('tensorrt', AUTO_ORDER, 1).executionProviders).to.deep.equal(['tensorrt', 'cuda']);
    expect(sessionOptionsFor('tensorrt', ['tensorrt', 'cpu'], 1).executionProviders).to.deep.equal(['tensorrt']);
    expect(sessionOptionsFor('cpu', AUTO_ORDER, 1).executionProviders).to.deep.equal(['cpu']);
    expect(sessionOptionsFor('webgpu', AUTO_ORDER, 1).executionProviders).to.deep.equal(['webgpu']);
  });

  it('a TensorRT that cannot start falls back to cpu, logs why, sets no ORT_TENSORRT_* variable and writes nothing to the data dir', async function () {
    // With the real provider library present TensorRT might start; this checks the failure path. There is
    // no trtexec here either, so vegkiosk's own engine cache is not built: the data dir must stay empty.
    if (existsSync(TRT_LIBRARY)) this.skip();
    const dataDir = await mkdtemp(join(tmpdir(), 'vegkiosk-trt-data-'));
    const { logger, lines } = capturingLogger('info');
    const envBefore = ortEnvKeys();
    try {
      const model = await loadModel(models.classifier.onnxPath, {
        executionProviders: ['tensorrt', 'cpu'],
        dataDir,
        threads: 1,
        logger,
        // Claim the libraries are there so onnxruntime itself is asked for TensorRT, and fails.
        providerEnvironment: { backends: [{ name: 'tensorrt', bundled: false }, { name: 'cpu', bundled: true }], fileExists: () => true },
      });
      await model.close();
      expect(model.executionProvider).to.equal('cpu');
      const [trt, cpu] = model.providerAttempts;
      expect(trt!.provider).to.equal('tensorrt');
      expect(trt!.outcome).to.equal('failed');
      expect(trt!.reason).to.not.equal('');
      expect(cpu).to.deep.equal({ provider: 'cpu', outcome: 'active', reason: 'session created' });
      const logged = lines.map((l) => JSON.parse(l) as { msg: string; reason?: string; executionProvider?: string });
      expect(logged.some((l) => l.msg.startsWith('building the TensorRT engine'))).to.equal(true);
      const warning = logged.find((l) => l.msg === 'execution provider failed; trying the next');
      expect(warning?.executionProvider).to.equal('tensorrt');
      expect(warning?.reason).to.equal(trt!.reason);
      expect(ortEnvKeys()).to.deep.equal(envBefore);
      expect(await readdir(dataDir)).to.deep.equal([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('ep.context_enable on a cpu session: refused for a model given as bytes, nothing written for one given as a path', async () => {
    const extra = { ep: { context_enable: '1' } };
    const bytes = await readFile(models.classifier.onnxPath);
    let refused: Error | undefined;
    try {
      await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], extra });
    } catch (err) {
      refused = err as Error;
    }
    expect(refused?.message).to.match(/loaded from bytes was configured with EPContext model generation enabled but without a valid location/);

    const before = (await readdir(models.dir)).sort();
    const session = await ort.InferenceSession.create(models.classifier.onnxPath, { executionProviders: ['cpu'], extra });
    await session.release();
    expect((await readdir(models.dir)).sort()).to.deep.equal(before);
  });

  it('onnxruntime-node still appends TensorRT before it applies sessionOptions.extra, so ep.context_* never reaches TensorRT', async function () {
    // Needs a binding built with TensorRT (x86-64 npm build) but without the provider library, so the
    // append runs and then stops at loading the library, after the point where it would copy ep.context_*.
    if (!ort.listSupportedBackends().some((b) => b.name === 'tensorrt') || existsSync(TRT_LIBRARY)) this.skip();
    const script = `
      import { createRequire } from 'node:module';
      const ort = createRequire(process.argv[1])('onnxruntime-node');
      ort.env.logLevel = 'verbose';
      try {
        await ort.InferenceSession.create(process.argv[2], { executionProviders: ['tensorrt'], extra: { ep: {
          context_enable: '1', context_file_path: process.argv[3], context_embed_mode: '0' } } });
        console.log('RESULT session created');
      } catch (err) {
        console.log('RESULT ' + err.message);
      }`;
    const ctxPath = join(models.dir, 'probe_ctx.onnx');
    const { stdout, stderr } = await promisify(execFile)(process.execPath,
      ['--input-type=module', '-e', script, join(REPO_ROOT, 'package.json'), models.classifier.onnxPath, ctxPath],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
    const output = stdout + stderr;
    expect(output, 'onnxruntime verbose logging did not come through; this check cannot see the append').to.match(/\[V:onnxruntime/);
    expect(stdout).to.match(/RESULT .*TensorRT/);
    // onnxruntime logs "Context cache enable: 1" when the append picks ep.context_* up (seen with the
    // same library through the C API when the entries are added first).
    expect(output, 'onnxruntime-node now passes ep.context_* to TensorRT: an EP-context engine cache has become possible (README "Execution providers")')
      .to.not.match(/Context cache enable/);
    expect(existsSync(ctxPath)).to.equal(false);
  });
});
