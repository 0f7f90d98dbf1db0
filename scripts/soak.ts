import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeBenchClassifier } from './onnx/make-test-models.ts';
import { enrollWithCli, LiveService, type WsClient } from './soak-service.ts';

/**
 * Memory soak: runs the real `vegkiosk serve` (camera → model → WebSockets) with N clients
 * subscribed to results and JPEG frames, one client replaced every few seconds (connect/disconnect
 * paths leak too), and samples the service's RSS and open descriptors from /proc and its V8 heap
 * from /metrics. Growth is measured from the end of warm-up (JIT, pools and caches filled) to the
 * end of the run; a kiosk that runs for months must stay flat.
 *
 *   npx tsx scripts/soak.ts --minutes 10 --clients 4 [--warmup-minutes 2] [--json]
 */

export interface SoakOptions {
  minutes: number;
  clients: number;
  /** Default: a fifth of the run, at most 2 minutes. */
  warmupMinutes?: number;
  /** Default: about 60 samples over the run, at least one a second. */
  sampleSeconds?: number;
  /** Replace one client this often (0: never). */
  churnSeconds?: number;
  camera?: string;
  fps?: number;
  /** .onnx with its manifest; default a generated bench classifier (224x224 CNN, 15 labels). */
  model?: string;
  /** Bar for the exit code of the CLI (default 5 %). */
  maxGrowthPct?: number;
  log?: (line: string) => void;
}

export interface Sample {
  atS: number;
  rssMb: number;
  heapMb: number;
  /** Buffers and other memory V8 tracks outside its heap (JPEG frames, socket buffers). */
  externalMb: number;
  fds: number;
}

export interface SoakReport {
  minutes: number;
  clients: number;
  camera: string;
  model: string;
  ep: string;
  samples: Sample[];
  start: Sample;
  afterWarmup: Sample;
  end: Sample;
  /** (end - afterWarmup) / afterWarmup; each point is the median of a fifth of the post-warm-up samples. */
  growthPct: { rss: number; heap: number; fds: number };
  /** Growth of the lowest RSS in the same two windows: memory that never comes back, without transient spikes. */
  rssFloorGrowthPct: number;
  /** Linear trend of RSS after warm-up. */
  rssTrendPctPerHour: number;
  peakRssMb: number;
  resultsReceived: number;
  framesReceived: number;
  clientsReplaced: number;
  serviceExit: { code: number | null; signal: string | null };
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function procSample(pid: number): { rssMb: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? NaN);
  return { rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

function metric(text: string, name: string): number {
  const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
  if (value === undefined) throw new Error(`/metrics has no ${name}; is this vegkiosk version too old for the soak?`);
  return Number(value);
}

/** Per-metric medians of samples[from, to): robust against the GC saw-tooth and transient socket buffers. */
function windowMedian(samples: Sample[], from: number, to: number): Sample {
  const w = samples.slice(Math.max(0, from), Math.max(from + 1, to));
  const m = (k: 'rssMb' | 'heapMb' | 'externalMb' | 'fds') => median(w.map((s) => s[k]));
  return { atS: w[0].atS, rssMb: m('rssMb'), heapMb: m('heapMb'), externalMb: m('externalMb'), fds: m('fds') };
}

/** Least-squares slope of RSS over time, as % of the mean per hour: a steady leak shows here even through noise. */
function rssTrendPctPerHour(samples: Sample[]): number {
  if (samples.length < 3) return 0;
  const n = samples.length;
  const mx = samples.reduce((a, s) => a + s.atS, 0) / n;
  const my = samples.reduce((a, s) => a + s.rssMb, 0) / n;
  const sxy = samples.reduce((a, s) => a + (s.atS - mx) * (s.rssMb - my), 0);
  const sxx = samples.reduce((a, s) => a + (s.atS - mx) ** 2, 0);
  return sxx > 0 && my > 0 ? round(((sxy / sxx) * 3600 * 100) / my, 2) : 0;
}

const growth = (from: number, to: number) => (from > 0 ? round(((to - from) / from) * 100, 2) : 0);

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const log = opts.log ?? (() => {});
  const durationMs = opts.minutes * 60_000;
  const warmupMs = (opts.warmupMinutes ?? Math.min(2, opts.minutes / 5)) * 60_000;
  const sampleMs = (opts.sampleSeconds ?? Math.max(1, (opts.minutes * 60) / 60)) * 1000;
  const churnMs = (opts.churnSeconds ?? 5) * 1000;
  const camera = opts.camera ?? 'synthetic';
  const dir = mkdtempSync(join(tmpdir(), 'vegkiosk-soak-'));
  let service: LiveService | null = null;
  const clients: WsClient[] = [];
  try {
    const model = opts.model ? resolve(opts.model) : (await writeBenchClassifier(join(dir, 'model'))).onnxPath;
    const dataDir = join(dir, 'data');
    const secret = enrollWithCli(dataDir, 'soak', 'viewer');
    service = await LiveService.start({
      dataDir, model, camera,
      env: { ...(opts.fps ? { VEGKIOSK_CAMERA_FPS: String(opts.fps) } : {}) },
    });
    const svc = service;
    const token = await svc.login('soak', secret);
    for (let i = 0; i < opts.clients; i++) clients.push(await svc.connect(token, true));
    const hello = await svc.request('GET', '/healthz');
    log(`soak: pid ${svc.pid}, ${opts.clients} client(s), camera ${camera}, ep ${hello.body.ep}, ${opts.minutes} min (warm-up ${round(warmupMs / 60_000, 2)} min)`);

    const samples: Sample[] = [];
    let finished = { results: 0, frames: 0 };
    let replaced = 0;
    const started = Date.now();
    let nextChurn = started + churnMs;
    while (Date.now() - started < durationMs) {
      const metrics = await svc.request('GET', '/metrics');
      const proc = procSample(svc.pid);
      const sample = { atS: round((Date.now() - started) / 1000), rssMb: round(proc.rssMb), heapMb: round(metric(metrics.body, 'nodejs_heap_size_used_bytes') / 2 ** 20, 2),
        externalMb: round(metric(metrics.body, 'nodejs_external_memory_bytes') / 2 ** 20, 2), fds: proc.fds };
      samples.push(sample);
      log(`  t=${sample.atS}s rss=${sample.rssMb} MB heap=${sample.heapMb} MB external=${sample.externalMb} MB fds=${sample.fds} results=${clients.reduce((n, c) => n + c.results, 0) + finished.results}`);
      const wakeAt = Math.min(started + durationMs, Date.now() + sampleMs);
      while (Date.now() < wakeAt) {
        if (churnMs > 0 && Date.now() >= nextChurn && clients.length > 0) {
          // Oldest out, a new one in: exercises the hub's add/remove and the TLS socket lifecycle.
          const old = clients.shift()!;
          await old.close();
          finished = { results: finished.results + old.results, frames: finished.frames + old.frames };
          clients.push(await svc.connect(token, true));
          replaced++;
          nextChurn += churnMs;
        }
        await new Promise((r) => setTimeout(r, Math.max(10, Math.min(250, wakeAt - Date.now()))));
      }
    }
    if (samples.length < 2) throw new Error('the soak ran too briefly to take two samples; raise --minutes');
    let warmIndex = samples.findIndex((s) => s.atS * 1000 >= warmupMs);
    if (warmIndex < 0) warmIndex = samples.length - 1;
    // The first and last fifth of the post-warm-up samples (at least three each, when there are).
    const steady = samples.length - warmIndex;
    const span = Math.max(Math.min(3, steady), Math.floor(steady / 5));
    const afterWarmup = windowMedian(samples, warmIndex, warmIndex + span);
    const end = windowMedian(samples, samples.length - span, samples.length);
    for (const c of clients) finished = { results: finished.results + c.results, frames: finished.frames + c.frames };
    const exit = await svc.stop('SIGTERM');
    service = null;
    return {
      minutes: opts.minutes, clients: opts.clients, camera, model, ep: String(hello.body.ep),
      samples, start: samples[0], afterWarmup, end,
      growthPct: { rss: growth(afterWarmup.rssMb, end.rssMb), heap: growth(afterWarmup.heapMb, end.heapMb), fds: growth(afterWarmup.fds, end.fds) },
      rssFloorGrowthPct: growth(
        Math.min(...samples.slice(warmIndex, warmIndex + span).map((x) => x.rssMb)),
        Math.min(...samples.slice(samples.length - span).map((x) => x.rssMb)),
      ),
      rssTrendPctPerHour: rssTrendPctPerHour(samples.slice(warmIndex)),
      peakRssMb: Math.max(...samples.map((s) => s.rssMb)),
      resultsReceived: finished.results, framesReceived: finished.frames, clientsReplaced: replaced,
      serviceExit: { code: exit.code, signal: exit.signal },
    };
  } finally {
    if (service) await service.stop('SIGTERM').catch(() => service!.child.kill('SIGKILL'));
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseCli(argv: string[]): SoakOptions & { json: boolean } {
  const opts: SoakOptions & { json: boolean } = { minutes: 10, clients: 4, json: false };
  const numeric: Record<string, keyof SoakOptions> = {
    '--minutes': 'minutes', '--clients': 'clients', '--warmup-minutes': 'warmupMinutes', '--sample-seconds': 'sampleSeconds',
    '--churn-seconds': 'churnSeconds', '--fps': 'fps', '--max-growth-pct': 'maxGrowthPct',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') opts.json = true;
    else if (arg === '--camera' || arg === '--model') opts[arg === '--camera' ? 'camera' : 'model'] = argv[++i];
    else if (numeric[arg]) {
      const value = Number(argv[++i]);
      if (!Number.isFinite(value) || value < 0) throw new Error(`${arg} needs a non-negative number, got ${argv[i]}`);
      (opts as unknown as Record<string, number>)[numeric[arg]] = value;
    } else throw new Error(`unknown argument ${arg}; use --minutes N --clients N [--warmup-minutes N] [--sample-seconds N] ` +
      '[--churn-seconds N] [--camera SPEC] [--fps N] [--model F] [--max-growth-pct N] [--json]');
  }
  if (opts.minutes <= 0) throw new Error('--minutes must be above 0');
  return opts;
}

async function main(argv: string[]): Promise<number> {
  const opts = parseCli(argv);
  const report = await runSoak({ ...opts, log: opts.json ? undefined : (l) => process.stderr.write(`${l}\n`) });
  const bar = opts.maxGrowthPct ?? 5;
  const worst = Math.max(report.growthPct.rss, report.growthPct.heap, report.growthPct.fds);
  if (opts.json) process.stdout.write(`${JSON.stringify({ ...report, samples: undefined, sampleCount: report.samples.length, barPct: bar, pass: worst < bar })}\n`);
  else {
    const row = (name: string, s: Sample) =>
      `${name.padEnd(14)} t=${String(s.atS).padStart(6)}s  RSS ${s.rssMb} MB  heap ${s.heapMb} MB  external ${s.externalMb} MB  fds ${s.fds}`;
    process.stdout.write([
      `soak: ${report.minutes} min, ${report.clients} WebSocket clients (frames on), camera ${report.camera}, ep ${report.ep}`,
      row('start', report.start), row('after warm-up', report.afterWarmup), row('end', report.end),
      `growth after warm-up: RSS ${report.growthPct.rss} %, heap ${report.growthPct.heap} %, fds ${report.growthPct.fds} % (bar < ${bar} %)`,
      `RSS floor growth ${report.rssFloorGrowthPct} %; RSS trend ${report.rssTrendPctPerHour} %/hour; peak RSS ${report.peakRssMb} MB ` +
        '(points are medians of the first and last fifth of the post-warm-up samples; floor is their minimum)',
      `clients received ${report.resultsReceived} results and ${report.framesReceived} frames; ${report.clientsReplaced} clients replaced; service exit ${report.serviceExit.code}`,
      worst < bar ? 'PASS' : 'FAIL: growth above the bar',
    ].join('\n') + '\n');
  }
  return worst < bar ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
