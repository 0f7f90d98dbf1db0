import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveThreads } from '../inference/execution-providers.ts';
import { configureSharp } from '../inference/preprocess.ts';
import { WorkerModel } from '../inference/worker-model.ts';
import { CascadeModel, MAX_CASCADE_ITEMS } from '../inference/cascade-model.ts';
import type { Model } from '../inference/model.ts';
import { DEFAULT_PREPARE_AHEAD } from '../pipeline/pipeline.ts';
import type { Config } from '../config/config.ts';
import { ConfigError } from '../config/config-error.ts';
import { DEFAULT_DETECTOR } from '../config/load-config.ts';
import { LearnedClasses } from '../learning/learned-classes.ts';
import { LEARNED_SPEC } from '../learning/learned-store.ts';
import type { Logger } from '../logger.ts';

/**
 * The one way every command opens the model, so `bench` measures exactly what `serve` runs:
 * onnxruntime in a worker with one core left for decoding, libvips on one thread without a cache,
 * the classes learned on this kiosk applied to every prediction, and, with detection on, the
 * detector in front of the classifier (a CascadeModel: every caller gets it without code of its own).
 */
export async function openModel(config: Config, logger?: Logger, overrides: ModelOverrides = {}): Promise<Model> {
  // Nothing learned yet: nothing to apply, and no reason to create the data directory.
  if (!existsSync(join(config.dataDir, LEARNED_SPEC.file))) {
    const classifier = await loadWorkerModel(config.model, config, logger, { ...overrides, poolSize: classifierPool(config) });
    return withDetector(classifier, config, logger);
  }
  return (await openRecognition(config, logger, { persistLearned: false, ...overrides })).model;
}

/** What a command may change about the model for its own run, never in the files. */
export interface ModelOverrides {
  /** Replaces the manifest's score threshold (classify --min-score); in a cascade, the classifier's. */
  scoreThreshold?: number;
}

/**
 * A cascade's classifier holds a frame's inputs (its crops and the whole frame) from prepare until
 * inference has run: one set per decode lane, one in inference and one for an upload (27 MB at
 * 224 px, allocated once); a classifier alone keeps WorkerModel's default.
 */
function classifierPool(config: Config): number | undefined {
  return config.detection ? (DEFAULT_PREPARE_AHEAD + 2) * (MAX_CASCADE_ITEMS + 1) : undefined;
}

function loadWorkerModel(modelPath: string, config: Config, logger?: Logger, overrides: ModelOverrides & { poolSize?: number } = {}): Promise<WorkerModel> {
  configureSharp({ concurrency: 1, cache: false });
  return WorkerModel.load(modelPath, {
    executionProviders: config.executionProviders,
    threads: resolveThreads(config.inferenceThreads),
    dataDir: config.dataDir,
    logLevel: config.logLevel,
    logger,
    ...overrides,
  });
}

/**
 * The detector to put in front of `classifier`, or null: detection off, a detector configured as the
 * model (it runs alone), or the default detector not installed yet (logged once: the classifier runs
 * alone, as before it shipped). A detector the operator named and that is missing never gets here:
 * the configuration check refuses it (exit 78, VEGKIOSK_DETECTOR).
 */
async function withDetector(classifier: WorkerModel, config: Config, logger?: Logger): Promise<Model> {
  if (!config.detection || classifier.manifest.kind !== 'classifier') return classifier;
  if (!existsSync(config.detector) && config.detector === DEFAULT_DETECTOR) {
    // serve says it once in its log; classify and bench show it in what they report (no detections,
    // the classifier's name), as their stderr is kept for errors.
    logger?.warn({ detector: config.detector }, 'detection: the default detector is not installed; classifying whole frames only (VEGKIOSK_DETECTION=off silences this)');
    return classifier;
  }
  try {
    // Its own worker: detection of the next frame can run while this one's crops are classified.
    const detector = await loadWorkerModel(config.detector, config, logger, { poolSize: 5 });
    if (detector.manifest.kind !== 'detector') {
      await detector.close();
      throw new ConfigError([`VEGKIOSK_DETECTOR: ${config.detector} is a ${detector.manifest.kind}, not a detector`]);
    }
    return new CascadeModel(detector, classifier);
  } catch (err) {
    await classifier.close();
    throw err;
  }
}

export interface Recognition {
  /** What runs on each frame: the classifier, or the cascade of the detector and the classifier. */
  model: Model;
  /** The classifier, which learning embeds with and extends. */
  classifier: WorkerModel;
  learned: LearnedClasses;
}

/**
 * The model with the learned classes attached to its classifier (so each crop of a cascade gets them
 * too). `persistLearned`: after a model upgrade the examples are re-embedded and written back (serve,
 * learn), or kept in memory only (classify, bench). `detection: false` opens the classifier alone (learn).
 */
export async function openRecognition(config: Config, logger: Logger | undefined, opts: { persistLearned: boolean; detection?: boolean } & ModelOverrides): Promise<Recognition> {
  const classifier = await loadWorkerModel(config.model, config, logger, { scoreThreshold: opts.scoreThreshold, poolSize: opts.detection === false ? undefined : classifierPool(config) });
  let learned: LearnedClasses;
  try {
    learned = await LearnedClasses.open(config.dataDir, classifier, { logger: logger?.child({ stage: 'learning' }), persist: opts.persistLearned });
    classifier.extension = learned;
  } catch (err) {
    await classifier.close();
    throw err;
  }
  const model = opts.detection === false ? classifier : await withDetector(classifier, config, logger);
  return { model, classifier, learned };
}

/** `--model` and `--ep` flags become config overrides, validated like every other source. */
export function modelOverrides(model: string | undefined, ep: string | undefined): Record<string, string> {
  const overrides: Record<string, string> = {};
  if (model !== undefined) overrides.VEGKIOSK_MODEL = model;
  if (ep !== undefined) overrides.VEGKIOSK_EXECUTION_PROVIDERS = ep;
  return overrides;
}
