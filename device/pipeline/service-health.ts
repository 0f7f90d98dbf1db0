import type { FrameSource } from '../camera/frame-source.ts';
import { CascadeModel } from '../inference/cascade-model.ts';
import type { Model } from '../inference/model.ts';
import { storageHealth } from '../store/storage-health.ts';
import type { Pipeline } from './pipeline.ts';
import type { ModelInfo, ServiceStatus } from './service-status.ts';

export interface HealthInputs {
  source: FrameSource;
  sourceReason: string;
  model: Model;
  pipeline: Pipeline;
  /** performance.now() at start: uptime and the warm-up grace must not move with the wall clock. */
  startedAt: number;
  /** A pipeline with no result for this long is not doing its job (match the Pipeline's stallAfterMs). */
  resultStaleMs: number;
  /** The data directory: its free space and failed writes count towards health. */
  dataDir?: string;
  /** The monotonic clock startedAt was read from (default performance.now). */
  now?: () => number;
}

/**
 * ok: frames flow and results come. degraded: the service is up but the camera is restarting,
 * results have stopped, or the data disk is full or refusing writes (it may recover alone).
 * failing: the pipeline has stopped. `reasons` says which, for the technician reading /healthz.
 */
export function serviceStatus(inputs: HealthInputs): ServiceStatus {
  const now = (inputs.now ?? (() => performance.now()))();
  const camera = { ...inputs.source.health(), reason: inputs.sourceReason };
  const pipeline = inputs.pipeline.stats();
  const resultsFresh = pipeline.sinceLastResultMs !== null && pipeline.sinceLastResultMs <= inputs.resultStaleMs;
  const warmingUp = pipeline.lastResultAt === null && now - inputs.startedAt <= inputs.resultStaleMs * 5;
  const storage = inputs.dataDir === undefined ? undefined : storageHealth(inputs.dataDir);
  const reasons: string[] = [];
  if (pipeline.state === 'stopped') reasons.push('the pipeline has stopped');
  if (camera.state !== 'running') {
    reasons.push(`camera ${camera.source} is ${camera.state}${camera.lastError ? `: ${camera.lastError}` : ''}`);
  }
  if (!(resultsFresh || warmingUp)) {
    reasons.push(pipeline.lastResultAt === null
      ? 'no result yet since start'
      : `no result for ${Math.round((pipeline.sinceLastResultMs ?? 0) / 1000)} s`);
  }
  if (storage?.state === 'failing') reasons.push(storage.lastError!);
  else if (storage?.state === 'low') {
    reasons.push(`the data disk is nearly full: ${Math.round(storage.freeBytes! / 1024)} KiB free at ${storage.path}`);
  }
  const status: ServiceStatus['status'] = pipeline.state === 'stopped' ? 'failing' : reasons.length ? 'degraded' : 'ok';
  return {
    status,
    camera,
    model: modelInfo(inputs.model),
    ep: inputs.model.executionProvider,
    pipeline,
    uptimeS: Math.round((now - inputs.startedAt) / 1000),
    ...(storage ? { storage } : {}),
    reasons,
  };
}

/** The model's identity; a cascade names its classifier and, beside it, its detector. */
function modelInfo(model: Model): ModelInfo {
  const { manifest } = model;
  const info: ModelInfo = { name: manifest.name, version: manifest.version, kind: manifest.kind, labels: manifest.labels.length, sha256: manifest.sha256 };
  if (!(model instanceof CascadeModel)) return info;
  const d = model.stages.detector;
  return { ...info, kind: 'cascade', detector: { name: d.name, version: d.version, labels: d.labels.length, sha256: d.sha256 } };
}
