import { readTemperatures } from '../board/detect-board.ts';
import { redactUrlsIn } from '../camera/camera-spec.ts';
import type { ServiceStatus } from '../pipeline/service-status.ts';
import { readCpu, readDisk } from './host-info.ts';
import { publicCameraHealth } from './redact.ts';

/**
 * The `/api/status` JSON, made in one place: the route answers with it and the fleet publisher
 * publishes it as the kiosk's retained `status`, so the two never differ.
 */
export function apiStatusBody(s: ServiceStatus, dataDir: string, wsClients: number) {
  return {
    status: s.status,
    pipeline: s.pipeline,
    camera: publicCameraHealth(s.camera),
    model: s.model,
    ep: s.ep,
    fps: s.pipeline.fps,
    latencyMs: s.pipeline.latencyMs,
    temperatures: readTemperatures(),
    cpu: readCpu(),
    disk: readDisk(dataDir),
    storage: s.storage ?? null,
    reasons: (s.reasons ?? []).map(redactUrlsIn),
    wsClients,
    uptimeS: Math.round(s.uptimeS),
    fleet: s.fleet ?? null,
  };
}
