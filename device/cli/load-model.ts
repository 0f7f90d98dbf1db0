import { resolveThreads } from '../inference/execution-providers.ts';
import { configureSharp } from '../inference/preprocess.ts';
import { WorkerModel } from '../inference/worker-model.ts';
import type { Config } from '../config/config.ts';
import type { Logger } from '../logger.ts';

/**
 * The one way every command opens the model, so `bench` measures exactly what `serve` runs:
 * onnxruntime in a worker with one core left for decoding, libvips on one thread without a cache.
 */
export async function openModel(config: Config, logger?: Logger): Promise<WorkerModel> {
  configureSharp({ concurrency: 1, cache: false });
  return WorkerModel.load(config.model, {
    executionProviders: config.executionProviders,
    threads: resolveThreads(config.inferenceThreads),
    dataDir: config.dataDir,
    logLevel: config.logLevel,
    logger,
  });
}

/** `--model` and `--ep` flags become config overrides, validated like every other source. */
export function modelOverrides(model: string | undefined, ep: string | undefined): Record<string, string> {
  const overrides: Record<string, string> = {};
  if (model !== undefined) overrides.VEGKIOSK_MODEL = model;
  if (ep !== undefined) overrides.VEGKIOSK_EXECUTION_PROVIDERS = ep;
  return overrides;
}
