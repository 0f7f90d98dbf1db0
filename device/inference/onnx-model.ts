import * as ort from 'onnxruntime-node';
import type { Logger } from '../logger.ts';
import { createSession, type ProviderAttempt, type ProviderEnvironment } from './execution-providers.ts';
import { loadModelFiles, ModelFileError } from './manifest.ts';
import type { CosineHead, ImageInput, Model, ModelManifest, PreparedInput, Prediction } from './model.ts';
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
  /**
   * Replaces the manifest's score threshold (0..1), e.g. 0.01 for evaluation, which must see the
   * low-scoring detections to draw a whole precision-recall curve. The manifest file and its pinned
   * SHA-256 are untouched; the returned model's manifest carries the threshold in use.
   */
  scoreThreshold?: number;
  /** Override what the machine offers (tests, doctor dry runs). */
  providerEnvironment?: ProviderEnvironment;
}

/** A classifier's embedding output (unless its manifest's head names another); never the result. */
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
    /** The classifier's embedding output, fetched with the result when the model has one. */
    readonly embeddingName: string | null = null,
    /** The cosine head (class weights read once at load), or null. */
    readonly head: CosineHead | null = null,
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
    const fetches = this.embeddingName ? [this.outputName, this.embeddingName] : [this.outputName];
    const results = await this.session.run(feeds, fetches);
    const out = results[this.outputName]!;
    const data = out.data as Float32Array;
    if (this.manifest.kind !== 'classifier') return decodeYolov8(data, out.dims, this.manifest, input);
    const prediction = classify(data, this.manifest);
    // A copy: onnxruntime may reuse the output buffer, and the prediction travels on alone.
    if (this.embeddingName) prediction.embedding = Float32Array.from(results[this.embeddingName]!.data as Float32Array);
    return prediction;
  }

  /**
   * A classifier's inputs stacked into one [N, ...] tensor and run once (a cascade's crops): one
   * session.run costs less than N, as the per-run overhead and the small-batch kernels are shared.
   */
  async runBatch(inputs: readonly PreparedInput[]): Promise<Prediction[]> {
    if (this.manifest.kind !== 'classifier') throw new Error(`${this.manifest.name} is a ${this.manifest.kind}; only a classifier runs a batch`);
    if (inputs.length === 0) return [];
    if (inputs.length === 1) return [await this.run(inputs[0]!)];
    const length = this.preprocessor.tensorLength;
    const stacked = new Float32Array(length * inputs.length);
    inputs.forEach((input, i) => {
      if (input.data.length !== length) {
        throw new RangeError(`prepared input has ${input.data.length} values, ${this.manifest.name} needs ${length}; prepare() it with this model`);
      }
      stacked.set(input.data, i * length);
    });
    const dims = [inputs.length, ...this.inputDims.slice(1)];
    const fetches = this.embeddingName ? [this.outputName, this.embeddingName] : [this.outputName];
    const results = await this.session.run({ [this.inputName]: new ort.Tensor('float32', stacked, dims) }, fetches);
    const logits = results[this.outputName]!.data as Float32Array;
    const K = this.manifest.labels.length;
    const embedding = this.embeddingName ? (results[this.embeddingName]!.data as Float32Array) : null;
    const D = embedding ? embedding.length / inputs.length : 0;
    return inputs.map((_, i) => {
      const prediction = classify(logits.subarray(i * K, (i + 1) * K), this.manifest);
      if (embedding) prediction.embedding = embedding.slice(i * D, (i + 1) * D);
      return prediction;
    });
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
  const notResults = new Set([EMBEDDING_OUTPUT, manifest.head?.embedding, manifest.head?.classWeights]);
  const index = session.outputNames.findIndex((n) => !notResults.has(n));
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

/** The embedding output's name: the head's, which must exist, else `embedding` when the model has it. */
function embeddingOutput(session: ort.InferenceSession, manifest: ModelManifest, modelPath: string, manifestPath: string): string | null {
  const head = manifest.head;
  if (!head) return session.outputNames.includes(EMBEDDING_OUTPUT) ? EMBEDDING_OUTPUT : null;
  for (const [field, name] of [['head.embedding', head.embedding], ['head.classWeights', head.classWeights]] as const) {
    if (!session.outputNames.includes(name)) {
      throw new ModelFileError(
        `${manifestPath}: "${field}" names output "${name}" but ${modelPath} has only ${session.outputNames.map((n) => `"${n}"`).join(', ')}; ` +
          'fix "head" in the manifest or re-export the model', manifestPath, field);
    }
  }
  return head.embedding;
}

/**
 * Reads the head's constant class weights once (one run on a blank input), and checks on that run
 * that the model's logits follow the manifest's rule, so a learned class scored by it competes fairly.
 */
async function readCosineHead(
  session: ort.InferenceSession, manifest: ModelManifest,
  names: { inputName: string; outputName: string; embeddingName: string }, modelPath: string, manifestPath: string,
): Promise<CosineHead> {
  const spec = manifest.head!;
  const { width, height, layout } = manifest.input;
  const dims = layout === 'NCHW' ? [1, 3, height, width] : [1, height, width, 3];
  const blank = new ort.Tensor('float32', new Float32Array(3 * width * height), dims);
  const out = await session.run({ [names.inputName]: blank }, [names.outputName, names.embeddingName, spec.classWeights]);
  const weights = Float32Array.from(out[spec.classWeights]!.data as Float32Array);
  const embedding = out[names.embeddingName]!.data as Float32Array;
  const logits = out[names.outputName]!.data as Float32Array;
  const K = manifest.labels.length;
  const D = embedding.length;
  if (D === 0 || weights.length !== K * D) {
    throw new ModelFileError(
      `${modelPath}: output "${spec.classWeights}" has ${weights.length} values; ${K} labels and an embedding of ${D} need [${K},${D}]; ` +
        're-export the model', modelPath, 'head.classWeights');
  }
  for (let k = 0; k < K; k++) {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += embedding[d]! * weights[k * D + d]!;
    if (Math.abs(spec.scale * dot - logits[k]!) > 1e-3 * Math.max(1, Math.abs(logits[k]!))) {
      throw new ModelFileError(
        `${manifestPath}: "head.scale" ${spec.scale} does not reproduce the model's logits (label ${manifest.labels[k]}: ` +
          `${(spec.scale * dot).toFixed(4)} by the rule, ${logits[k]!.toFixed(4)} from the model); fix "head" in the manifest or re-export the model`,
        manifestPath, 'head.scale');
    }
  }
  return { scale: spec.scale, dim: D, weights };
}

/** The manifest with its score threshold replaced, when one is given. */
export function withScoreThreshold(manifest: ModelManifest, score: number | undefined): ModelManifest {
  if (score === undefined) return manifest;
  if (!Number.isFinite(score) || score < 0 || score > 1) throw new RangeError(`a score threshold must be from 0 to 1, got ${score}`);
  return { ...manifest, thresholds: { ...manifest.thresholds, score } };
}

/**
 * Verifies `<name>.onnx` against `<name>.json` (SHA-256 pinned), opens it on the best configured
 * execution provider and returns a ready Model.
 */
export async function loadModel(modelPath: string, opts: LoadModelOptions): Promise<OnnxModel> {
  const files = await loadModelFiles(modelPath);
  const { manifestPath } = files;
  const manifest = withScoreThreshold(files.manifest, opts.scoreThreshold);
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
    const embeddingName = manifest.kind === 'classifier' ? embeddingOutput(session, manifest, modelPath, manifestPath) : null;
    const head = embeddingName && manifest.head
      ? await readCosineHead(session, manifest, { inputName, outputName, embeddingName }, modelPath, manifestPath)
      : null;
    const preprocessor = new Preprocessor(manifest.input, { poolSize: opts.poolSize, logger: opts.logger });
    return new OnnxModel(manifest, modelPath, session, executionProvider, attempts, inputName, outputName, preprocessor, embeddingName, head);
  } catch (err) {
    await session.release();
    throw err;
  }
}
