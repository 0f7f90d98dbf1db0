import * as ort from 'onnxruntime-node';
import type { Logger } from '../logger.ts';
import { createSession, type ProviderAttempt, type ProviderEnvironment } from './execution-providers.ts';
import { loadModelFiles, ModelFileError } from './manifest.ts';
import type { ImageInput, Model, ModelManifest, PreparedInput, Prediction } from './model.ts';
import { classify, decodeYolov8 } from './postprocess.ts';
import { Preprocessor, type PreprocessorStats } from './preprocess.ts';

export interface LoadModelOptions {
  /** Ordered provider names, or ['auto'] (default). */
  executionProviders?: readonly string[];
  /** onnxruntime intra-op threads; 0 (default) = max(1, cpus - 1). */
  threads?: number;
  /**
   * Service data directory. With tensorrt, the engine cache built by trtexec lives in `<dataDir>/trt-cache`
   * (README, "Execution providers"); nothing is written there otherwise.
   */
  dataDir: string;
  logger?: Logger;
  /** Preprocessing buffers kept for reuse (default 2). */
  poolSize?: number;
  /** Override what the machine offers (tests, doctor dry runs). */
  providerEnvironment?: ProviderEnvironment;
}

/** A model's embedding output is for other uses; the first output not named this is the result. */
const EMBEDDING_OUTPUT = 'embedding';

export class OnnxModel implements Model {
  private readonly inputDims: number[];

  constructor(
    readonly manifest: ModelManifest,
    readonly modelPath: string,
    private readonly session: ort.InferenceSession,
    readonly executionProvider: string,
    /** Every provider considered, in order, with why it was used, failed or skipped (for `vegkiosk doctor`). */
    readonly providerAttempts: readonly ProviderAttempt[],
    readonly inputName: string,
    readonly outputName: string,
    private readonly preprocessor: Preprocessor,
  ) {
    const { width, height, layout } = manifest.input;
    this.inputDims = layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3];
  }

  prepare(image: ImageInput): Promise<PreparedInput> {
    return this.preprocessor.prepare(image);
  }

  preprocessStats(): PreprocessorStats {
    return this.preprocessor.stats();
  }

  async run(input: PreparedInput): Promise<Prediction> {
    if (input.data.length !== this.preprocessor.tensorLength) {
      throw new RangeError(`prepared input has ${input.data.length} values, ${this.manifest.name} needs ${this.preprocessor.tensorLength}; prepare() it with this model`);
    }
    const feeds = { [this.inputName]: new ort.Tensor('float32', input.data, this.inputDims) };
    const results = await this.session.run(feeds, [this.outputName]);
    const out = results[this.outputName]!;
    const data = out.data as Float32Array;
    return this.manifest.kind === 'classifier'
      ? classify(data, this.manifest)
      : decodeYolov8(data, out.dims, this.manifest, input);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Checks the model's declared input against the manifest, so a mismatch fails at load, not per frame. */
function checkInputShape(session: ort.InferenceSession, manifest: ModelManifest, modelPath: string, manifestPath: string): string {
  if (session.inputNames.length !== 1) {
    throw new ModelFileError(`${modelPath}: expected one image input, the model has ${session.inputNames.length} (${session.inputNames.join(', ')})`, modelPath);
  }
  const name = session.inputNames[0]!;
  const meta = session.inputMetadata[0];
  if (meta && meta.isTensor) {
    const { width, height, layout } = manifest.input;
    const expected = layout === 'NCHW' ? [null, 3, height, width] : [null, height, width, 3];
    const shape = meta.shape;
    const fits = shape.length === 4 && expected.every((e, i) => e === null || typeof shape[i] !== 'number' || shape[i] === e);
    if (!fits) {
      throw new ModelFileError(
        `${manifestPath}: "input" says ${width}x${height} ${layout} but ${modelPath} input "${name}" is [${shape.join(',')}]; ` +
          'fix input.width/input.height/input.layout in the manifest or re-export the model',
        manifestPath, 'input');
    }
  }
  return name;
}

/** The result output, checked against the manifest's labels where the model declares fixed sizes. */
function pickOutput(session: ort.InferenceSession, manifest: ModelManifest, modelPath: string, manifestPath: string): string {
  const index = session.outputNames.findIndex((n) => n !== EMBEDDING_OUTPUT);
  if (index < 0) throw new ModelFileError(`${modelPath}: the model has no output other than "${EMBEDDING_OUTPUT}"`, modelPath);
  const name = session.outputNames[index]!;
  const meta = session.outputMetadata[index];
  if (meta && meta.isTensor) {
    const shape = meta.shape;
    const C = manifest.labels.length;
    const declared = manifest.kind === 'classifier' ? shape[shape.length - 1] : shape[1];
    const expected = manifest.kind === 'classifier' ? C : 4 + C;
    const what = manifest.kind === 'classifier' ? `[N,${C}]` : `[1,${4 + C},anchors]`;
    if (shape.length < 2 || (typeof declared === 'number' && declared !== expected)) {
      throw new ModelFileError(
        `${manifestPath}: ${C} labels need ${modelPath} output "${name}" to be ${what} but it is [${shape.join(',')}]; ` +
          'fix "labels" (or "kind"/"output.format") in the manifest or re-export the model',
        manifestPath, 'labels');
    }
  }
  return name;
}

/**
 * Verifies `<name>.onnx` against `<name>.json` (SHA-256 pinned), opens it on the best configured
 * execution provider and returns a ready Model.
 */
export async function loadModel(modelPath: string, opts: LoadModelOptions): Promise<OnnxModel> {
  const files = await loadModelFiles(modelPath);
  const { manifest, manifestPath } = files;
  const { session, executionProvider, attempts } = await createSession(
    files.bytes,
    {
      executionProviders: opts.executionProviders,
      threads: opts.threads,
      logger: opts.logger,
      modelLabel: modelPath,
      env: opts.providerEnvironment,
      tensorRtCache: { dataDir: opts.dataDir, modelPath, sha256: manifest.sha256, modelBytes: files.bytes },
    },
    (reason) => new ModelFileError(
      `${modelPath}: onnxruntime cannot load this file (${reason}); it is probably truncated or not an ONNX model: ` +
        're-export it, or restore it from the release',
      modelPath),
  );
  try {
    const inputName = checkInputShape(session, manifest, modelPath, manifestPath);
    const outputName = pickOutput(session, manifest, modelPath, manifestPath);
    const preprocessor = new Preprocessor(manifest.input, { poolSize: opts.poolSize, logger: opts.logger });
    return new OnnxModel(manifest, modelPath, session, executionProvider, attempts, inputName, outputName, preprocessor);
  } catch (err) {
    await session.release();
    throw err;
  }
}
