import type { SourceHealth } from '../camera/frame-source.ts';
import type { FleetHealth } from '../fleet/fleet-health.ts';
import type { StorageHealth } from '../store/storage-health.ts';

export interface LatencyPercentiles {
  p50: number;
  p90: number;
  p99: number;
}

/** What the pipeline reports about itself; /healthz, /api/status, the WebSocket and the CLI read it. */
export interface PipelineStats {
  state: 'starting' | 'running' | 'stalled' | 'stopped';
  fps: number;
  framesProcessed: number;
  framesDropped: number;
  /** Frames answered with the last result because the scene had not changed (when resting is on). */
  framesReused?: number;
  latencyMs: { preprocess: LatencyPercentiles; inference: LatencyPercentiles; total: LatencyPercentiles };
  lastResultAt: number | null;
  /** Milliseconds since the last result on the monotonic clock (staleness; unaffected by clock changes). */
  sinceLastResultMs: number | null;
}

export interface ModelInfo {
  name: string;
  version: string;
  /** cascade: `detector` finds the items and this model (the classifier) names each one. */
  kind: 'classifier' | 'detector' | 'cascade';
  labels: number;
  sha256: string;
  detector?: { name: string; version: string; labels: number; sha256: string };
}

export interface ServiceStatus {
  status: 'ok' | 'degraded' | 'failing';
  camera: SourceHealth;
  model: ModelInfo;
  ep: string;
  pipeline: PipelineStats;
  uptimeS: number;
  /** The data disk: free space and the last failed write (absent where the caller does not track it). */
  storage?: StorageHealth;
  /** The fleet (MQTT) publisher, when VEGKIOSK_MQTT_URL is set; its troubles do not make the kiosk degraded. */
  fleet?: FleetHealth;
  /** Why the status is not ok, one line each, worded for a technician; empty when ok. */
  reasons?: string[];
}
