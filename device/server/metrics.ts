import { readdirSync } from 'node:fs';
import type { ResultBus } from '../pipeline/result-bus.ts';
import type { PipelineResult } from '../results/pipeline-result.ts';
import type { ServiceStatus } from '../pipeline/service-status.ts';
import type { FleetHealth } from '../fleet/fleet-health.ts';

const BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

class Histogram {
  private readonly counts = new Array<number>(BUCKETS_MS.length).fill(0);
  private sum = 0;
  private count = 0;

  observe(ms: number): void {
    this.sum += ms;
    this.count += 1;
    for (let i = 0; i < BUCKETS_MS.length; i++) if (ms <= BUCKETS_MS[i]) this.counts[i] += 1;
  }

  render(name: string, help: string): string[] {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    BUCKETS_MS.forEach((le, i) => lines.push(`${name}_bucket{le="${le / 1000}"} ${this.counts[i]}`));
    lines.push(`${name}_bucket{le="+Inf"} ${this.count}`, `${name}_sum ${this.sum / 1000}`, `${name}_count ${this.count}`);
    return lines;
  }
}

/** Open descriptors of this process (Linux /proc); NaN renders as 0 elsewhere. */
function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return Number.NaN;
  }
}

/** The fleet publisher's broker state, queue and losses (only when VEGKIOSK_MQTT_URL is set). */
function fleetMetrics(fleet: FleetHealth, gauge: (name: string, help: string, value: number, type?: string) => string[]): string[] {
  const dropped = fleet.queue.dropped;
  return [
    ...gauge('vegkiosk_fleet_connected', '1 while the fleet broker connection is up', fleet.state === 'connected' ? 1 : 0),
    ...gauge('vegkiosk_fleet_queue_depth', 'Fleet messages waiting for the broker', fleet.queue.depth),
    ...gauge('vegkiosk_fleet_queue_bytes', 'Bytes of fleet messages waiting for the broker', fleet.queue.bytes),
    ...gauge('vegkiosk_fleet_delivered_total', 'Fleet messages the broker acknowledged', fleet.delivered, 'counter'),
    ...gauge('vegkiosk_fleet_connects_total', 'Fleet broker sessions opened', fleet.connects, 'counter'),
    '# HELP vegkiosk_fleet_dropped_total Fleet messages dropped because the queue was full',
    '# TYPE vegkiosk_fleet_dropped_total counter',
    ...(['results', 'status', 'events'] as const).map((kind) => `vegkiosk_fleet_dropped_total{kind="${kind}"} ${dropped[kind]}`),
    ...gauge('vegkiosk_fleet_queue_write_ok', '0 while the fleet queue cannot be written to disk', fleet.queue.writeError ? 0 : 1),
  ];
}

/** Prometheus text exposition, fed from the result bus and the service status; no client library needed. */
export class Metrics {
  private readonly preprocess = new Histogram();
  private readonly inference = new Histogram();
  private readonly total = new Histogram();
  private results = 0;
  private loginFailures = 0;
  private wsDropped = 0;
  private readonly onResult = (r: PipelineResult) => {
    this.results += 1;
    // A reused result ran no model: its zero would only hide the real inference latency.
    if (r.reused) return;
    this.preprocess.observe(r.latencyMs.preprocess);
    this.inference.observe(r.latencyMs.inference);
    this.total.observe(r.latencyMs.total);
  };

  constructor(private readonly bus: ResultBus) {
    bus.on('result', this.onResult);
  }

  loginFailed(): void { this.loginFailures += 1; }
  wsClientDropped(): void { this.wsDropped += 1; }

  render(status: ServiceStatus, wsClients: number): string {
    const memory = process.memoryUsage();
    const gauge = (name: string, help: string, value: number, type = 'gauge') =>
      [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${Number.isFinite(value) ? value : 0}`];
    return [
      ...gauge('vegkiosk_up', '1 ok, 0.5 degraded, 0 failing', status.status === 'ok' ? 1 : status.status === 'degraded' ? 0.5 : 0),
      ...gauge('vegkiosk_fps', 'Pipeline results per second', status.pipeline.fps),
      ...gauge('vegkiosk_frames_processed_total', 'Frames run through the model', status.pipeline.framesProcessed, 'counter'),
      ...gauge('vegkiosk_frames_dropped_total', 'Frames dropped because the pipeline was busy', status.pipeline.framesDropped, 'counter'),
      ...gauge('vegkiosk_results_total', 'Results published since start', this.results, 'counter'),
      ...gauge('vegkiosk_frames_reused_total', 'Frames answered with the last result because the scene had not changed (rest)', status.pipeline.framesReused ?? 0, 'counter'),
      ...this.preprocess.render('vegkiosk_preprocess_seconds', 'Preprocessing latency'),
      ...this.inference.render('vegkiosk_inference_seconds', 'Inference latency'),
      ...this.total.render('vegkiosk_frame_to_result_seconds', 'Frame to result latency'),
      ...gauge('vegkiosk_ws_clients', 'Connected WebSocket clients', wsClients),
      ...gauge('vegkiosk_ws_clients_dropped_total', 'WebSocket clients dropped for not reading', this.wsDropped, 'counter'),
      ...gauge('vegkiosk_login_failures_total', 'Refused logins (wrong code, unknown user, locked, rate limited)', this.loginFailures, 'counter'),
      ...gauge('vegkiosk_camera_restarts_total', 'Camera source restarts', status.camera.restarts, 'counter'),
      ...gauge('vegkiosk_uptime_seconds', 'Service uptime', status.uptimeS),
      // Months unattended: growth in any of these is a leak (scripts/soak.ts watches them).
      ...gauge('process_resident_memory_bytes', 'Resident set size', memory.rss),
      ...gauge('nodejs_heap_size_used_bytes', 'V8 heap in use', memory.heapUsed),
      ...gauge('nodejs_heap_size_total_bytes', 'V8 heap reserved', memory.heapTotal),
      ...gauge('nodejs_external_memory_bytes', 'Memory held outside the V8 heap (Buffers, native addons)', memory.external),
      ...gauge('process_open_fds', 'Open file descriptors', openFds()),
      ...(status.storage?.freeBytes != null ? gauge('vegkiosk_data_disk_free_bytes', 'Free space on the data disk', status.storage.freeBytes) : []),
      ...(status.fleet ? fleetMetrics(status.fleet, gauge) : []),
    ].join('\n') + '\n';
  }

  close(): void {
    this.bus.off('result', this.onResult);
  }
}
