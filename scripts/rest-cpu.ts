/**
 * CPU time per second of the `serve` process with a static scene, rest on against rest off, measured
 * side by side in one run: two real `vegkiosk serve` processes at once, each on a replay camera of the
 * same photo repeated at 15 fps, with the same model (the configured cascade unless flags say
 * otherwise); the CPU time is read from /proc/<pid>/stat (utime + stime) over the same window, so load
 * from other jobs on the machine falls on both alike and the ratio holds.
 *
 *   node --import tsx scripts/rest-cpu.ts [--photo F.jpg] [--model F.onnx] [--detector D.onnx]
 *       [--detection on|off] [--seconds 30] [--warmup 10] [--fps 15] [--json]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { LiveService, PACKAGE_ROOT } from './soak-service.ts';

const CLOCK_TICKS = 100; // USER_HZ on Linux: /proc/<pid>/stat counts CPU time in 1/100 s.

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Measured {
  rest: 'on' | 'off';
  cpuPerSecond: number;
  results: number;
  inferred: number;
  reused: number;
}

/** The result counters of a /metrics page (loopback needs no token). */
function counters(text: string): { results: number; processed: number; reused: number } {
  const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { results: read('vegkiosk_results_total'), processed: read('vegkiosk_frames_processed_total'), reused: read('vegkiosk_frames_reused_total') };
}

async function main(argv: string[]): Promise<void> {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const photo = resolve(value('--photo') ?? join(PACKAGE_ROOT, 'models', 'demo-photos', '04-carrot.jpg'));
  const seconds = Number(value('--seconds') ?? 30);
  const warmup = Number(value('--warmup') ?? 10);
  const fps = value('--fps') ?? '15';
  const env: Record<string, string> = { VEGKIOSK_CAMERA_FPS: fps, VEGKIOSK_LOG_LEVEL: 'info', VEGKIOSK_INFERENCE_THREADS: '1' };
  if (value('--detector')) Object.assign(env, { VEGKIOSK_DETECTOR: resolve(value('--detector')!), VEGKIOSK_DETECTION: 'on' });
  if (value('--detection')) env.VEGKIOSK_DETECTION = value('--detection')!;
  const model = resolve(value('--model') ?? join(PACKAGE_ROOT, 'models', 'vegetables-v2.onnx'));

  const dirs: string[] = [mkdtempSync(join(tmpdir(), 'vegkiosk-rest-frame-'))];
  const services: LiveService[] = [];
  try {
    // What a USB webcam's MJPEG mode delivers: 1280x720, 4:2:0, quality 85.
    const frame = join(dirs[0]!, 'frame.jpg');
    await sharp(photo).resize(1280, 720, { fit: 'cover' }).jpeg({ quality: 85, chromaSubsampling: '4:2:0' }).toFile(frame);
    for (const rest of ['on', 'off'] as const) {
      const dataDir = mkdtempSync(join(tmpdir(), `vegkiosk-rest-${rest}-`));
      dirs.push(dataDir);
      services.push(await LiveService.start({ dataDir, model, camera: `replay:${frame}`, env: { ...env, VEGKIOSK_REST: rest } }));
    }
    await sleep(warmup * 1000);
    const sample = () => Promise.all(services.map(async (s) => ({ cpu: cpuSeconds(s.pid), counts: counters((await s.request('GET', '/metrics')).body) })));
    const before = await sample();
    const startedAt = performance.now();
    await sleep(seconds * 1000);
    const after = await sample();
    const wall = (performance.now() - startedAt) / 1000;
    const measured: Measured[] = services.map((_, i) => ({
      rest: i === 0 ? 'on' : 'off',
      cpuPerSecond: Math.round(((after[i]!.cpu - before[i]!.cpu) / wall) * 1000) / 1000,
      results: after[i]!.counts.results - before[i]!.counts.results,
      inferred: after[i]!.counts.processed - before[i]!.counts.processed,
      reused: after[i]!.counts.reused - before[i]!.counts.reused,
    }));
    const [on, off] = measured as [Measured, Measured];
    const ratio = on.cpuPerSecond > 0 ? Math.round((off.cpuPerSecond / on.cpuPerSecond) * 10) / 10 : Infinity;
    const described = (await services[0]!.request('GET', '/healthz')).body.model;
    const report = { photo, fps: Number(fps), seconds: Math.round(wall), model: described, on, off, ratio };
    if (argv.includes('--json')) {
      process.stdout.write(JSON.stringify(report) + '\n');
    } else {
      process.stdout.write([
        `static scene ${photo} (as a 1280x720 JPEG) at ${fps} fps, ${Math.round(wall)} s after ${warmup} s warm-up, both services at once`,
        `model ${described.name} (${described.kind}${described.detector ? `, detector ${described.detector.name}` : ''})`,
        `  rest on   ${on.cpuPerSecond.toFixed(3)} CPU-s per s   ${on.results} results: ${on.inferred} inferred, ${on.reused} reused`,
        `  rest off  ${off.cpuPerSecond.toFixed(3)} CPU-s per s   ${off.results} results: ${off.inferred} inferred`,
        `  rest saves ${ratio}x`,
        '',
      ].join('\n'));
    }
  } finally {
    await Promise.all(services.map((s) => s.stop().catch(() => undefined)));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`rest-cpu: ${err.message}\n`);
    process.exit(1);
  });
}
