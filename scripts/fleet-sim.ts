// scripts/fleet-sim --kiosks N --minutes M [--fps F] [--results all|changes]
//
// N simulated kiosks, each the real fleet publisher (device/fleet/fleet-publisher.ts) with its own
// durable queue and its own connection, fed recorded results (scripts/fleet-sim-data/), against a
// local Mosquitto it starts on 127.0.0.1 (loopback only). One subscriber reads every kiosk's results
// and events. Prints messages per second, publish-to-delivery latency percentiles and losses.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFleetPublisher, type FleetPublisher } from '../device/fleet/fleet-publisher.ts';
import { createLogger } from '../device/logger.ts';
import type { PipelineResult } from '../device/results/pipeline-result.ts';
import { Subscriber } from '../test/support/fleet-fixtures.ts';
import { Mosquitto } from '../test/support/mosquitto.ts';

interface Options { kiosks: number; minutes: number; fps: number; results: 'all' | 'changes' }

function parse(argv: string[]): Options {
  const o: Options = { kiosks: 10, minutes: 1, fps: 2, results: 'all' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--kiosks') o.kiosks = Number(value);
    else if (flag === '--minutes') o.minutes = Number(value);
    else if (flag === '--fps') o.fps = Number(value);
    else if (flag === '--results' && (value === 'all' || value === 'changes')) o.results = value;
    else throw new Error(`usage: scripts/fleet-sim --kiosks N --minutes M [--fps F] [--results all|changes] (unknown ${flag})`);
  }
  if (!(o.kiosks >= 1 && o.minutes > 0 && o.fps > 0)) throw new Error('--kiosks, --minutes and --fps must be positive');
  return o;
}

/** The recorded results, as a camera stream: each photo 3 s, then 1 s of an empty counter. */
function recordedStream(fps: number): Omit<PipelineResult, 'seq' | 'capturedAt'>[] {
  const lines = readFileSync(new URL('./fleet-sim-data/demo-photo-results.jsonl', import.meta.url), 'utf8').trim().split('\n');
  const frames: Omit<PipelineResult, 'seq' | 'capturedAt'>[] = [];
  const latencyMs = { preprocess: 4, inference: 14, total: 20 };
  for (const line of lines) {
    const r = JSON.parse(line) as { label: string | null; score: number; top: PipelineResult['top'] };
    for (let i = 0; i < Math.round(3 * fps); i++) frames.push({ kind: 'classifier', label: r.label, score: r.score, top: r.top, detections: [], latencyMs });
    for (let i = 0; i < Math.max(3, Math.round(fps)); i++) frames.push({ kind: 'classifier', label: null, score: 0.2, top: [], detections: [], latencyMs });
  }
  return frames;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'vegkiosk-fleet-sim-'));
  const broker = await Mosquitto.create({ users: { kiosk: 'sim-password', watcher: 'sim-watcher' } });
  const kiosks: FleetPublisher[] = [];
  const timers: NodeJS.Timeout[] = [];
  let sub: Subscriber | null = null;
  try {
    await broker.start();
    sub = await Subscriber.connect(broker.url, ['vegkiosk/+/results', 'vegkiosk/+/events'], { username: 'watcher', password: 'sim-watcher', clientId: 'sim-watcher' });
    // Latency is measured on arrival, before anything else is done with the message.
    const latencies: number[] = [];
    const received = new Map<string, Set<number>>();
    let arrivals = 0;
    sub.client.removeAllListeners('message');
    sub.client.on('message', (topic, payload) => {
      const now = Date.now();
      const m = JSON.parse(payload.toString()) as { seq: number; capturedAt?: number; at?: string };
      const sent = m.capturedAt ?? Date.parse(m.at!);
      latencies.push(now - sent);
      arrivals += 1;
      let seen = received.get(topic);
      if (!seen) received.set(topic, (seen = new Set()));
      seen.add(m.seq);
    });

    const stream = recordedStream(o.fps);
    const logger = createLogger('warn');
    const produced = new Map<string, number>();
    const statusJson = () => ({ status: 'ok', fps: o.fps, camera: { state: 'running', source: 'simulated' }, ep: 'cpu', uptimeS: 0 });
    const settleFrames = Math.max(1, Math.min(3, Math.round(o.fps)));
    for (let k = 0; k < o.kiosks; k++) {
      const id = `sim${String(k).padStart(5, '0')}`;
      kiosks.push(startFleetPublisher(
        { url: broker.url, username: 'kiosk', password: 'sim-password', ca: '', kioskId: id, topicPrefix: 'vegkiosk', results: o.results, dataDir: join(dir, id), softwareVersion: 'sim' },
        { statusJson, logger },
        { settleFrames, backoff: { initialMs: 500, maxMs: 5_000 } },
      ));
      // Stagger connections a little, as a chain's kiosks do not all boot in the same millisecond.
      if (k % 50 === 49) await new Promise((r) => setTimeout(r, 50));
    }
    const connectedBy = Date.now() + 60_000;
    while (kiosks.some((k) => k.health().state !== 'connected') && Date.now() < connectedBy) await new Promise((r) => setTimeout(r, 200));
    const connected = kiosks.filter((k) => k.health().state === 'connected').length;
    process.stdout.write(`fleet-sim: ${o.kiosks} kiosks (${connected} connected), ${o.fps} fps each, results=${o.results}, ${o.minutes} min, broker ${broker.url}\n`);

    latencies.length = 0;
    arrivals = 0;
    const started = Date.now();
    let frame = 0;
    kiosks.forEach((kiosk, k) => {
      const id = `sim${String(k).padStart(5, '0')}`;
      let i = Math.floor((k * 7919) % stream.length); // each kiosk somewhere else in the recording
      const tick = () => {
        const r = stream[i++ % stream.length]!;
        kiosk.onResult({ ...r, seq: ++frame, capturedAt: Date.now() });
        produced.set(id, (produced.get(id) ?? 0) + 1);
      };
      // Spread the kiosks' frames over the frame interval.
      timers.push(setTimeout(() => timers.push(setInterval(tick, 1000 / o.fps)), Math.floor((k / o.kiosks) * (1000 / o.fps))));
    });
    await new Promise((r) => setTimeout(r, o.minutes * 60_000));
    for (const t of timers) clearInterval(t);
    const feedSeconds = (Date.now() - started) / 1000;

    // Drain: every queue empty and the subscriber idle.
    const drainBy = Date.now() + 60_000;
    let last = -1;
    while (Date.now() < drainBy) {
      const depth = kiosks.reduce((n, k) => n + k.health().queue.depth, 0);
      if (depth === 0 && arrivals === last) break;
      last = arrivals;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const elapsed = (Date.now() - started) / 1000;

    let expected = 0;
    let got = 0;
    let dropped = 0;
    for (let k = 0; k < kiosks.length; k++) {
      const id = `sim${String(k).padStart(5, '0')}`;
      const health = kiosks[k]!.health();
      dropped += health.queue.dropped.results + health.queue.dropped.events;
      if (o.results === 'all') {
        expected += produced.get(id) ?? 0;
        got += received.get(`vegkiosk/${id}/results`)?.size ?? 0;
      }
    }
    const events = [...received.entries()].filter(([t]) => t.endsWith('/events')).reduce((n, [, s]) => n + s.size, 0);
    const sorted = [...latencies].sort((a, b) => a - b);
    const summary = {
      kiosks: o.kiosks, connected, fps: o.fps, results: o.results, feedSeconds: Math.round(feedSeconds), drainedAfterSeconds: Math.round(elapsed - feedSeconds),
      messagesReceived: arrivals, messagesPerSecond: Math.round(arrivals / feedSeconds), events,
      latencyMs: { p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? null },
      resultsProduced: o.results === 'all' ? expected : null, resultsReceived: o.results === 'all' ? got : null,
      lost: o.results === 'all' ? expected - got : null, droppedByQueues: dropped,
      rssMb: Math.round(process.memoryUsage().rss / 1e6),
    };
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    process.stdout.write(`  ${summary.messagesPerSecond} msg/s delivered; latency p50 ${summary.latencyMs.p50} ms, p90 ${summary.latencyMs.p90} ms, p99 ${summary.latencyMs.p99} ms; ` +
      `lost ${summary.lost ?? 'n/a'} of ${summary.resultsProduced ?? 'n/a'} results, ${events} events\n`);
  } finally {
    for (const t of timers) clearInterval(t);
    await Promise.all(kiosks.map((k) => k.stop().catch(() => undefined)));
    await sub?.close().catch(() => undefined);
    await broker.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`fleet-sim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
