import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveThreads } from '../inference/execution-providers.ts';
import { configureSharp } from '../inference/preprocess.ts';
import { WorkerModel } from '../inference/worker-model.ts';
import type { Config } from '../config/config.ts';
import { LearnedClasses } from '../learning/learned-classes.ts';
import { LEARNED_SPEC } from '../learning/learned-store.ts';
import type { Logger } from '../logger.ts';

/**
 * The one way every command opens the model, so `bench` measures exactly what `serve` runs:
 * onnxruntime in a worker with one core left for decoding, libvips on one thread without a cache,
 * and the classes learned on this kiosk applied to every prediction.
 */
export async function openModel(config: Config, logger?: Logger, overrides: ModelOverrides = {}): Promise<WorkerModel> {
  // Nothing learned yet: nothing to apply, and no reason to create the data directory.
  if (!existsSync(join(config.dataDir, LEARNED_SPEC.file))) return loadWorkerModel(config, logger, overrides);
  return (await openRecognition(config, logger, { persistLearned: false, ...overrides })).model;
}

/** What a command may change about the model for its own run, never in the files. */
export interface ModelOverrides {
  /** Replaces the manifest's score threshold (classify --min-score). */
  scoreThreshold?: number;
}

function loadWorkerModel(config: Config, logger?: Logger, overrides: ModelOverrides = {}): Promise<WorkerModel> {
  configureSharp({ concurrency: 1, cache: false });
  return WorkerModel.load(config.model, {
    executionProviders: config.executionProviders,
    threads: resolveThreads(config.inferenceThreads),
    dataDir: config.dataDir,
    logLevel: config.logLevel,
    logger,
    ...overrides,
  });
}

export interface Recognition {
  model: WorkerModel;
  learned: LearnedClasses;
}

/**
 * The model with the learned classes attached. `persistLearned`: after a model upgrade the examples
 * are re-embedded and written back (serve, learn), or kept in memory only (classify, bench).
 */
export async function openRecognition(config: Config, logger: Logger | undefined, opts: { persistLearned: boolean } & ModelOverrides): Promise<Recognition> {
  const model = await loadWorkerModel(config, logger, { scoreThreshold: opts.scoreThreshold });
  try {
    const learned = await LearnedClasses.open(config.dataDir, model, { logger: logger?.child({ stage: 'learning' }), persist: opts.persistLearned });
    model.extension = learned;
    return { model, learned };
  } catch (err) {
    await model.close();
    throw err;
  }
}

/** `--model` and `--ep` flags become config overrides, validated like every other source. */
export function modelOverrides(model: string | undefined, ep: string | undefined): Record<string, string> {
  const overrides: Record<string, string> = {};
  if (model !== undefined) overrides.VEGKIOSK_MODEL = model;
  if (ep !== undefined) overrides.VEGKIOSK_EXECUTION_PROVIDERS = ep;
  return overrides;
}
