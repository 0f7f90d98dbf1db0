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

export interface RunRequest {
  id: number;
  input: Omit<PreparedInput, 'release'>;
}

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
  | { type: 'error'; id: number; message: string };
