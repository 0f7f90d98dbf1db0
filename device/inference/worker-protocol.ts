import type { ProviderAttempt } from './execution-providers.ts';
import type { CosineHead, ModelManifest, PreparedInput, Prediction } from './model.ts';

/** Messages between WorkerModel (main thread) and inference-worker.ts. */
export interface InferenceWorkerInit {
  modelPath: string;
  executionProviders: readonly string[];
  threads: number;
  dataDir: string;
  logLevel: string;
  /** Replaces the manifest's score threshold (classify --min-score); absent: the manifest's. */
  scoreThreshold?: number;
}

export type TransferredInput = Omit<PreparedInput, 'release'>;

/** One input (`input`), or a classifier's batch in one session.run (`batch`, a cascade's crops). */
export type RunRequest =
  | { id: number; input: TransferredInput }
  | { id: number; batch: TransferredInput[] };

export interface SerializedError {
  name: string;
  message: string;
  file?: string;
  field?: string;
}

export type WorkerReply =
  | { type: 'ready'; manifest: ModelManifest; executionProvider: string; attempts: ProviderAttempt[]; head: CosineHead | null }
  | { type: 'failed'; error: SerializedError }
  | { type: 'result'; id: number; prediction: Prediction }
  | { type: 'results'; id: number; predictions: Prediction[] }
  | { type: 'error'; id: number; message: string };
