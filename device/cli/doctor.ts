import { join } from 'node:path';
import { createRequire } from 'node:module';
import { csiBoard, detectBoard } from '../board/detect-board.ts';
import { throttlingLines } from '../board/pi-throttling.ts';
import { listCameraCandidates } from '../camera/video-device.ts';
import type { Config } from '../config/config.ts';
import { ConfigError } from '../config/config-error.ts';
import { loadConfig } from '../config/load-config.ts';
import { describeProviders, planProviders, resolveThreads } from '../inference/execution-providers.ts';
import { loadModel } from '../inference/onnx-model.ts';
import { findCachedEngine, findTrtexec } from '../inference/tensorrt-engine-cache.ts';
import { parseArgs, stringFlag } from './usage.ts';
import { fleetSection } from './doctor-fleet.ts';

/**
 * The npm build of onnxruntime-node for arm64 is compiled without CUDA and TensorRT, so provider
 * libraries alone are not enough there: the Node binding itself must be built with them.
 */
export const JETSON_ONNXRUNTIME_HINT =
  'On a Jetson, the npm build of onnxruntime-node has only the cpu provider (its arm64 binding is compiled ' +
  'without CUDA and TensorRT). Build onnxruntime for Node on the Jetson against its JetPack: ' +
  './build.sh --config Release --build_shared_lib --build_nodejs --use_cuda --use_tensorrt --cuda_home /usr/local/cuda ' +
  '--cudnn_home /usr/lib/aarch64-linux-gnu --tensorrt_home /usr/lib/aarch64-linux-gnu, then install the built js/node ' +
  'package in place of node_modules/onnxruntime-node (npm install <onnxruntime>/js/node). vegkiosk doctor then lists ' +
  'cuda and tensorrt as usable, and VEGKIOSK_EXECUTION_PROVIDERS=auto picks tensorrt, falling back to cuda, then cpu.';

function line(text = ''): void {
  process.stdout.write(text + '\n');
}

/** Explains the machine and every choice `serve` would make on it. Exit 0 unless the model cannot load. */
export async function doctorCommand(argv: string[]): Promise<number> {
  // --root reads the board files under another root: a mounted SD card image, or a test's fake board.
  const args = parseArgs(argv, { root: 'value' });
  const root = stringFlag(args, 'root') ?? '/';
  let config: Config | null = null;
  try {
    config = loadConfig({ overrides: { VEGKIOSK_LOG_LEVEL: 'silent' } });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    line('configuration problems (vegkiosk serve would exit 78):');
    for (const problem of err.problems) line(`  ${problem}`);
    line();
  }

  const board = detectBoard(root);
  line(`board: ${board.model} (${board.kind})`);
  for (const e of board.evidence) line(`  ${e}`);
  if (board.temperatures.length) line(`  temperatures: ${board.temperatures.map((t) => `${t.type} ${t.celsius.toFixed(1)} °C`).join(', ')}`);
  if (board.throttling) for (const l of throttlingLines(board.throttling)) line(`  ${l}`);

  const cameras = await listCameraCandidates(join(root, 'dev'), join(root, 'sys/class/video4linux'));
  line();
  line(`cameras: ${cameras.length ? cameras.join(', ') : 'no /dev/video* camera found'}`);
  line(`  CSI camera stack: ${csiBoard(board) ?? 'none (not a Jetson or Raspberry Pi)'}`);
  const cameraSetting = config?.camera ?? 'auto';
  line(`  VEGKIOSK_CAMERA=${cameraSetting}: ${cameraSetting === 'auto'
    ? `serve tries ${[...cameras.map((c) => `v4l2:${c}`), ...(csiBoard(board) ? ['csi'] : []), 'demo (the shipped demo photos)', 'synthetic'].join(', then ')}; the first to deliver a frame is used`
    : 'used as configured'}`);

  const ortVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
  line();
  line(`execution providers (onnxruntime-node ${ortVersion}):`);
  for (const p of describeProviders({}, true)) line(`  ${p.name.padEnd(9)} ${p.usable ? 'usable    ' : 'not usable'} ${p.reason}`);
  const configured = config?.executionProviders ?? ['auto'];
  const plan = planProviders(configured);
  line(`  VEGKIOSK_EXECUTION_PROVIDERS=${configured.join(',')}: tries ${plan.candidates.join(', then ') || 'nothing'}`);
  // With a config the model section below shows each provider tried; without one, say it here.
  if (!config) for (const s of plan.skipped) line(`    skips ${s.provider}: ${s.reason}`);
  if (board.kind === 'jetson' && !plan.candidates.includes('tensorrt')) line(`  ${JETSON_ONNXRUNTIME_HINT}`);

  if (!config) return 78;
  for (const l of await fleetSection(config)) line(l);
  line();
  line(`model: ${config.model}`);
  try {
    const model = await loadModel(config.model, { executionProviders: config.executionProviders, threads: resolveThreads(config.inferenceThreads), dataDir: config.dataDir });
    line(`  ${model.manifest.name} ${model.manifest.version}, ${model.manifest.kind}, ${model.manifest.labels.length} labels, SHA-256 verified`);
    line(`  runs on: ${model.executionProvider} with ${resolveThreads(config.inferenceThreads)} thread(s)`);
    for (const a of model.providerAttempts) line(`    ${a.provider}: ${a.outcome} (${a.reason})`);
    // Only where TensorRT is in play: on a Pi or a plain PC this line would be noise.
    const trtexec = findTrtexec();
    if (trtexec || model.providerAttempts.some((a) => a.provider === 'tensorrt' && a.outcome !== 'skipped')) {
      const cached = findCachedEngine(config.dataDir, model.manifest.sha256);
      line(`  TensorRT engine cache: trtexec ${trtexec ?? 'not found (PATH, /usr/src/tensorrt/bin)'}; ${cached ? `engine for this model cached (${cached})` : 'no cached engine for this model'}`);
    }
    await model.close();
  } catch (err) {
    line(`  cannot be used: ${(err as Error).message}`);
    return 1;
  }
  return 0;
}
