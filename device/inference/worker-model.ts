import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.ts';
import { backoffDelay, backoffWait, type BackoffPolicy, type BackoffWait } from '../supervision/backoff.ts';
import { errorMessage } from '../supervision/error-message.ts';
import type { ProviderAttempt } from './execution-providers.ts';
import { ModelFileError } from './manifest.ts';
import { disableOnnxRuntimeTelemetry } from './onnxruntime-telemetry.ts';
import type { CosineHead, ImageInput, Model, ModelManifest, PredictionExtension, PreparedInput, Prediction } from './model.ts';
import { Preprocessor } from './preprocess.ts';
import type { InferenceWorkerInit, RunRequest, SerializedError, TransferredInput, WorkerReply } from './worker-protocol.ts';

/** Stuck workers tolerated at once before recovery is left to systemd's watchdog. */
const MAX_ABANDONED = 2;

/** Between failed restarts: the model file may stay unusable for a while, and each try reloads it. */
const RESTART_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 30_000 };

const WORKER_URL = new URL('./inference-worker-bootstrap.mjs', import.meta.url);

/** Inference took longer than the limit; the worker was terminated and is being restarted. */
export class InferenceTimeoutError extends Error {
  override readonly name = 'InferenceTimeoutError';
}

export interface WorkerModelOptions {
  executionProviders: readonly string[];
  threads: number;
  dataDir: string;
  logLevel?: string;
  logger?: Logger;
  /** A run that takes longer than this is treated as stuck: the worker is terminated and restarted. */
  runTimeoutMs?: number;
  /**
   * Preprocessing buffers (default 5: the pipeline's three frames in preprocessing and one in
   * inference, plus an uploaded photo; test/pipeline.test.ts holds the two numbers together).
   */
  poolSize?: number;
  /** Replaces the manifest's score threshold, as LoadModelOptions.scoreThreshold. */
  scoreThreshold?: number;
}

/** The fields of a prepared input that cross to the worker (not its release function). */
function transferable({ data, sourceWidth, sourceHeight, scaleX, scaleY, padX, padY }: PreparedInput): TransferredInput {
  return { data, sourceWidth, sourceHeight, scaleX, scaleY, padX, padY };
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Started {
  worker: Worker;
  manifest: ModelManifest;
  executionProvider: string;
  attempts: ProviderAttempt[];
  head: CosineHead | null;
}

function rebuildError(e: SerializedError): Error {
  if (e.name === 'ModelFileError') return new ModelFileError(e.message, e.file ?? '', e.field);
  const err = new Error(e.message);
  err.name = e.name;
  return err;
}

function startWorker(init: InferenceWorkerInit): Promise<Started> {
  // Before the thread exists: onnxruntime reads the process environment, which a worker cannot set.
  disableOnnxRuntimeTelemetry();
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { workerData: init });
    const onMessage = (m: WorkerReply) => {
      if (m.type === 'ready') {
        cleanup();
        resolve({ worker, manifest: m.manifest, executionProvider: m.executionProvider, attempts: m.attempts, head: m.head });
      } else if (m.type === 'failed') {
        cleanup();
        reject(rebuildError(m.error));
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new Error(`inference worker failed to start: ${err.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`inference worker exited with code ${code} before the model was loaded`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}

/** What a WorkerModel emits, listener arguments by event name (checked by the compiler, as ResultBus's). */
export interface WorkerModelEvents {
  /** A stuck or crashed worker is being replaced; `reason` says which and why. */
  restart: [{ reason: string }];
}

/**
 * The Model the service runs: preprocessing on the main thread (sharp decodes on libuv's pool), the
 * onnxruntime session in a worker thread.
 */
export class WorkerModel extends EventEmitter<WorkerModelEvents> implements Model {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private restarting: Promise<void> | null = null;
  /** The wait between two failed restart attempts, which close() cuts short. */
  private restartWait: BackoffWait | null = null;
  /** A run longer than this is treated as stuck (adjustable while running). */
  runTimeoutMs: number;
  /** Workers given up on while stuck in a run; each is ended once its run returns. */
  private readonly abandoned = new Set<Worker>();
  restarts = 0;
  /** Applied to every prediction before it is returned (the classes learned on the device), or null. */
  extension: PredictionExtension | null = null;

  private constructor(
    private current: Started,
    private readonly init: InferenceWorkerInit,
    private readonly preprocessor: Preprocessor,
    private readonly options: WorkerModelOptions,
  ) {
    super();
    this.runTimeoutMs = options.runTimeoutMs ?? 30_000;
    this.attach(current.worker);
  }

  static async load(modelPath: string, options: WorkerModelOptions): Promise<WorkerModel> {
    const init: InferenceWorkerInit = {
      modelPath,
      executionProviders: [...options.executionProviders],
      threads: options.threads,
      dataDir: options.dataDir,
      logLevel: options.logLevel ?? 'info',
      ...(options.scoreThreshold === undefined ? {} : { scoreThreshold: options.scoreThreshold }),
    };
    const started = await startWorker(init);
    const preprocessor = new Preprocessor(started.manifest.input, { poolSize: options.poolSize ?? 5, logger: options.logger });
    return new WorkerModel(started, init, preprocessor, options);
  }

  get manifest(): ModelManifest {
    return this.current.manifest;
  }

  get executionProvider(): string {
    return this.current.executionProvider;
  }

  get head(): CosineHead | null {
    return this.current.head;
  }

  /** Every provider considered, with why it was used, failed or skipped. */
  get providerAttempts(): readonly ProviderAttempt[] {
    return this.current.attempts;
  }

  prepare(image: ImageInput): Promise<PreparedInput> {
    return this.preprocessor.prepare(image);
  }

  run(input: PreparedInput): Promise<Prediction> {
    return this.request<Prediction>((id) => ({ id, input: transferable(input) }));
  }

  /** A classifier's inputs in one session.run (a cascade's crops); each prediction extended like run's. */
  runBatch(inputs: readonly PreparedInput[]): Promise<Prediction[]> {
    if (inputs.length === 0) return Promise.resolve([]);
    return this.request<Prediction[]>((id) => ({ id, batch: inputs.map(transferable) }));
  }

  private async request<T>(message: (id: number) => RunRequest): Promise<T> {
    if (this.closed) throw new Error('model is closed');
    // A restart can fail for as long as the model file on disk is unusable; a run waits for it no
    // longer than for a run itself, so the pipeline and /api/classify get an answer, never a hang.
    if (this.restarting) await this.untilRestarted(this.runTimeoutMs);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timeoutMs = this.runTimeoutMs;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new InferenceTimeoutError(`inference did not finish within ${timeoutMs} ms; restarting the inference worker`));
        void this.restart(`a run took longer than ${timeoutMs} ms`, true);
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      // Structured clone copies the tensor (a few hundred KB), so the pooled buffer stays ours.
      this.current.worker.postMessage(message(id));
    });
  }

  private untilRestarted(limitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new InferenceTimeoutError(
        `the inference stage is still restarting after ${limitMs} ms (see the log for why the model does not load)`)), limitMs);
    });
    return Promise.race([this.restarting ?? Promise.resolve(), limit]).finally(() => clearTimeout(timer));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.restartWait?.cut();
    this.failPending(new Error('model closed'));
    await this.restarting;
    await this.current.worker.terminate();
    // A worker still inside a stuck run cannot be ended safely; it must not keep the process alive.
    for (const worker of this.abandoned) worker.unref();
  }

  private attach(worker: Worker): void {
    worker.on('message', (m: WorkerReply) => {
      if (m.type !== 'result' && m.type !== 'results' && m.type !== 'error') return;
      if (this.abandoned.has(worker)) {
        // The stuck run finally returned; the worker is idle now and safe to end.
        this.abandoned.delete(worker);
        void worker.terminate();
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.type === 'result') p.resolve(this.extended(m.prediction));
      else if (m.type === 'results') p.resolve(m.predictions.map((prediction) => this.extended(prediction)));
      else p.reject(new Error(m.message));
    });
    worker.on('error', (err) => {
      this.options.logger?.error({ err: err.message }, 'inference worker crashed');
    });
    worker.on('exit', (code) => {
      this.abandoned.delete(worker);
      if (this.closed || worker !== this.current.worker) return;
      void this.restart(`the inference worker exited with code ${code}`, false);
    });
  }

  private extended(prediction: Prediction): Prediction {
    if (!this.extension) return prediction;
    try {
      return this.extension.extend(prediction);
    } catch (err) {
      // The model's own answer is still a good one; a broken extension must not cost the result.
      this.options.logger?.error({ err: errorMessage(err) }, 'extending a prediction failed; reporting the model\'s own');
      return prediction;
    }
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  /**
   * Replaces the worker. A worker stuck inside onnxruntime cannot be terminated (ending a thread
   * during a native run aborts the whole process), so it is abandoned instead: it is ended as soon
   * as its run returns. Past MAX_ABANDONED stuck workers the stage stops restarting itself, results
   * stop, and the systemd watchdog restarts the service.
   */
  private restart(reason: string, stuck: boolean): Promise<void> {
    if (this.restarting || this.closed) return this.restarting ?? Promise.resolve();
    const old = this.current.worker;
    if (stuck) {
      this.abandoned.add(old);
      if (this.abandoned.size > MAX_ABANDONED) {
        this.options.logger?.fatal({ reason, stuckWorkers: this.abandoned.size }, 'inference keeps getting stuck; leaving recovery to the service watchdog');
        return Promise.resolve();
      }
    }
    this.restarts++;
    this.options.logger?.warn({ reason, restarts: this.restarts }, 'restarting the inference stage');
    this.emit('restart', { reason });
    this.restarting = (async () => {
      this.failPending(new InferenceTimeoutError(`inference stage restarted: ${reason}`));
      // Retry until the model loads again; a model that loaded once is expected to load again.
      const pinned = this.current.manifest.sha256;
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          const started = await startWorker(this.init);
          if (started.manifest.sha256 !== pinned) {
            // The preprocessing on this thread was set up for the model loaded at start.
            await started.worker.terminate();
            throw new Error(`the model files changed on disk since start (SHA-256 ${started.manifest.sha256}, running ${pinned}); ` +
              'restart vegkiosk to load the new model');
          }
          this.current = started;
          this.attach(this.current.worker);
          return;
        } catch (err) {
          this.options.logger?.error({ err: errorMessage(err), attempt }, 'inference worker restart failed; retrying');
          this.restartWait = backoffWait(backoffDelay(RESTART_BACKOFF, attempt));
          await this.restartWait.done;
          this.restartWait = null;
        }
      }
    })().finally(() => {
      this.restarting = null;
    });
    return this.restarting;
  }
}
