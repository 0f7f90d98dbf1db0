import type { FrameSource } from '../camera/frame-source.ts';
import type { Model } from '../inference/model.ts';
import type { Pipeline } from './pipeline.ts';
import type { ServiceStatus } from './service-status.ts';

export interface HealthInputs {
  source: FrameSource;
  sourceReason: string;
  model: Model;
  pipeline: Pipeline;
  startedAt: number;
  /** A pipeline with no result for this long is not doing its job (match the Pipeline's stallAfterMs). */
  resultStaleMs: number;
  now?: () => number;
}

/**
 * ok: frames flow and results come. degraded: the service is up but the camera is restarting or
 * results have stopped (it may recover alone). failing: the pipeline has stopped.
 */
export function serviceStatus(inputs: HealthInputs): ServiceStatus {
  const now = (inputs.now ?? Date.now)();
  const camera = { ...inputs.source.health(), reason: inputs.sourceReason };
  const pipeline = inputs.pipeline.stats();
  const { manifest } = inputs.model;
  const resultsFresh = pipeline.lastResultAt !== null && now - pipeline.lastResultAt <= inputs.resultStaleMs;
  const warmingUp = pipeline.lastResultAt === null && now - inputs.startedAt <= inputs.resultStaleMs * 5;
  let status: ServiceStatus['status'] = 'ok';
  if (pipeline.state === 'stopped') status = 'failing';
  else if (camera.state !== 'running' || !(resultsFresh || warmingUp)) status = 'degraded';
  return {
    status,
    camera,
    model: { name: manifest.name, version: manifest.version, kind: manifest.kind, labels: manifest.labels.length, sha256: manifest.sha256 },
    ep: inputs.model.executionProvider,
    pipeline,
    uptimeS: Math.round((now - inputs.startedAt) / 1000),
  };
}
