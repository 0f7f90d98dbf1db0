import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { conciseOrtError } from '../device/inference/execution-providers.ts';
import type { PreparedInput } from '../device/inference/model.ts';
import { loadModel, type OnnxModel } from '../device/inference/onnx-model.ts';
import { makeTempModels, type TempModels } from './fixtures/inference/temp-models.ts';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./fixtures/inference/load-model-child.ts', import.meta.url));

/** What a technician needs to know when webgpu cannot run here. */
function vulkanInventory(): string {
  const loader = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']
    .some((d) => existsSync(`${d}/libvulkan.so.1`));
  let icds: string[] = [];
  try { icds = readdirSync('/usr/share/vulkan/icd.d'); } catch { /* none installed */ }
  return `Vulkan loader libvulkan.so.1 ${loader ? 'found' : 'MISSING'}; ICDs in /usr/share/vulkan/icd.d: ` +
    `${icds.length ? icds.join(', ') : 'NONE'} (lavapipe is lvp_icd*.json from mesa-vulkan-drivers; ` +
    'scripts/install-test-deps.sh installs it from bookworm-backports)';
}

/** A gradient, so every channel and position carries a different value. */
function gradient(width: number, height: number) {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      data[p] = (x * 5) % 256;
      data[p + 1] = (y * 7) % 256;
      data[p + 2] = (x * 3 + y * 2) % 256;
    }
  }
  return { data, width, height, channels: 3 as const };
}

describe('inference webgpu (real onnxruntime webgpu provider)', () => {
  let models: TempModels;
  before(async () => { models = await makeTempModels(); });
  after(async () => { await models.cleanup(); });

  describe('on the machine\'s Vulkan device', () => {
    const open: OnnxModel[] = [];
    before(async function () {
      try {
        open.push(await loadModel(models.classifier.onnxPath, { executionProviders: ['webgpu'], dataDir: models.dir, threads: 1 }));
      } catch (err) {
        const why = 'attempts' in (err as object)
          ? JSON.stringify((err as { attempts: unknown }).attempts)
          : conciseOrtError(err);
        console.warn(`    SKIPPED: onnxruntime's webgpu provider cannot run here: ${why}. ${vulkanInventory()}`);
        this.skip();
      }
    });
    after(async () => { for (const m of open) await m.close(); });

    it('gives the same classifier outputs as cpu within 1e-4', async () => {
      const gpu = open[0]!;
      expect(gpu.executionProvider).to.equal('webgpu');
      const cpu = await loadModel(models.classifier.onnxPath, { executionProviders: ['cpu'], dataDir: models.dir, threads: 1 });
      open.push(cpu);
      let prepared: PreparedInput | undefined;
      try {
        prepared = await cpu.prepare(gradient(96, 80));
        const onGpu = await gpu.run(prepared);
        const onCpu = await cpu.run(prepared);
        expect(onGpu.top.map((t) => t.label)).to.deep.equal(onCpu.top.map((t) => t.label));
        onGpu.top.forEach((t, i) => expect(t.score).to.be.closeTo(onCpu.top[i]!.score, 1e-4));
        expect(onGpu.label).to.equal(onCpu.label);
      } finally {
        prepared?.release();
      }
    });

    it('runs the detector graph too, with identical detections', async () => {
      const gpu = await loadModel(models.detector.onnxPath, { executionProviders: ['webgpu'], dataDir: models.dir, threads: 1 });
      open.push(gpu);
      expect(gpu.executionProvider).to.equal('webgpu');
      const prepared = await gpu.prepare(gradient(128, 64));
      const r = await gpu.run(prepared);
      prepared.release();
      expect(r.detections.map((d) => d.label)).to.deep.equal(['Carrots', 'Tomato', 'Carrots']);
      expect(r.detections[0]!.box).to.deep.equal([0.25, 0.25, 0.75, 0.75]);
    });
  });

  it('falls back to cpu when no Vulkan device exists, recording why webgpu failed', async () => {
    // A child process, because the Vulkan loader reads its driver list once per process: pointing it
    // at a file that does not exist leaves no Vulkan device at all, so webgpu fails for real.
    const missing = '/nonexistent/vegkiosk-no-vulkan-driver.json';
    const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: missing, VK_DRIVER_FILES: missing };
    delete env.VK_ADD_DRIVER_FILES;
    const { stdout, stderr } = await run(process.execPath,
      ['--import', 'tsx', CHILD, models.classifier.onnxPath, 'webgpu,cpu', models.dir],
      { env, timeout: 60_000 });
    const outcome = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(outcome.error, JSON.stringify(outcome.error)).to.equal(undefined);
    expect(outcome.executionProvider).to.equal('cpu');
    expect(outcome.attempts).to.have.length(2);
    expect(outcome.attempts[0]).to.include({ provider: 'webgpu', outcome: 'failed' });
    expect(outcome.attempts[0].reason).to.match(/adapter|vulkan|webgpu/i);
    expect(outcome.attempts[1]).to.deep.equal({ provider: 'cpu', outcome: 'active', reason: 'session created' });
    expect(outcome.prediction.kind).to.equal('classifier');
    const warning = stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
      .find((l) => l.msg === 'execution provider failed; trying the next');
    expect(warning, stderr).to.include({ level: 40, executionProvider: 'webgpu' });
  });
});
