/**
 * Top-1 accuracy of a classifier on the Grocery Store val vegetables, measured the way issue 5 asks:
 * the exported ONNX run through `vegkiosk classify --json` (real sharp preprocessing, real onnxruntime),
 * not inside PyTorch. The model card's figures and test/model-accuracy.test.ts come from here.
 *
 *   node --import tsx scripts/evaluate-model.ts [--data DIR] [--model F.onnx] [--detector D.onnx] [--detection on|off] [--json] [--record]
 *
 * --detector / --detection evaluate a cascade (the detector in front of the classifier, top-1 from the
 * main item) or the classifier alone; without them, what `classify` runs by default.
 *
 * --record writes the figures into the model's manifest as `evaluation` (the manifest's SHA-256 covers
 * only the .onnx), so the card, the manifest and the test that re-measures them cannot drift apart.
 *
 * The photos are read from ../shared/data beside the checkout (never copied into the repository).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CLI, cleanEnv, PACKAGE_ROOT } from './soak-service.ts';

export const DEFAULT_DATA_DIR = resolve(PACKAGE_ROOT, '..', 'shared', 'data');
/** The default classifier, the one `serve` and `classify` use with no flags. */
export const DEFAULT_CLASSIFIER = join(PACKAGE_ROOT, 'models', 'vegetables-v2.onnx');

export interface ValPhoto {
  file: string;
  label: string;
}

export interface Evaluation {
  model: string;
  ep: string;
  n: number;
  correct: number;
  accuracy: number;
  perClass: Record<string, { n: number; correct: number }>;
  /** confusion[truth][prediction], both indices into `labels`. */
  confusion: number[][];
  labels: string[];
  /** The manifest's score threshold, and at it: the share of photos labelled and the share of those right. */
  threshold: number;
  coverage: number;
  precision: number;
  /** Photos classified wrongly, for the card's "known weaknesses". */
  mistakes: { file: string; truth: string; predicted: string; score: number }[];
}

/** Grocery val photos whose coarse class is one of `labels` (labels from the files, not folder names). */
export function groceryValPhotos(dataDir: string, labels: readonly string[]): ValPhoto[] {
  const root = join(dataDir, 'grocery', 'dataset');
  const coarseName = new Map<number, string>();
  for (const line of readFileSync(join(root, 'classes.csv'), 'utf8').split('\n').slice(1)) {
    const cols = line.split(',');
    if (cols.length >= 4) coarseName.set(Number(cols[3]), cols[2]!.trim());
  }
  const wanted = new Set(labels);
  const photos: ValPhoto[] = [];
  for (const line of readFileSync(join(root, 'val.txt'), 'utf8').split('\n')) {
    const [path, , coarse] = line.split(',').map((s) => s.trim());
    if (!path || coarse === undefined) continue;
    const label = coarseName.get(Number(coarse));
    if (label && wanted.has(label)) photos.push({ file: join(root, path), label });
  }
  return photos;
}

interface ClassifyLine {
  file: string;
  top: { label: string; score: number }[];
  ep: string;
}

function classifyJson(files: string[], model?: string, env: Record<string, string> = {}): Promise<ClassifyLine[]> {
  const args = [CLI, 'classify', '--json', ...(model ? ['--model', model] : []), ...files];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`vegkiosk classify exited ${code}: ${err.trim()}`));
      resolvePromise(out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ClassifyLine));
    });
  });
}

/**
 * `detector`/`detection`: the cascade to evaluate (VEGKIOSK_DETECTOR, VEGKIOSK_DETECTION); left out,
 * the defaults, as `classify` runs with no configuration (the shipped detector in front of the model
 * once it is installed). Top-1 is the result's top-level `top` either way: the main item's crop, or
 * the whole photo when nothing is detected.
 */
export interface CascadeChoice {
  detector?: string;
  detection?: 'on' | 'off';
}

export async function evaluateOnGroceryVal(opts: { dataDir?: string; model?: string } & CascadeChoice = {}): Promise<Evaluation> {
  const dataDir = opts.dataDir ?? DEFAULT_DATA_DIR;
  const modelPath = resolve(opts.model ?? DEFAULT_CLASSIFIER);
  const manifest = JSON.parse(readFileSync(modelPath.replace(/\.onnx$/, '.json'), 'utf8')) as { labels: string[]; thresholds: { score: number } };
  const threshold = manifest.thresholds.score;
  const labels = manifest.labels;
  const photos = groceryValPhotos(dataDir, labels);
  const env: Record<string, string> = {
    ...(opts.detector ? { VEGKIOSK_DETECTOR: resolve(opts.detector), VEGKIOSK_DETECTION: 'on' } : {}),
    ...(opts.detection ? { VEGKIOSK_DETECTION: opts.detection } : {}),
  };
  const lines = await classifyJson(photos.map((p) => p.file), opts.model ? modelPath : undefined, env);
  const byFile = new Map(lines.map((l) => [l.file, l]));
  const index = new Map(labels.map((l, i) => [l, i]));
  const confusion = labels.map(() => labels.map(() => 0));
  const perClass: Evaluation['perClass'] = Object.fromEntries(labels.map((l) => [l, { n: 0, correct: 0 }]));
  const mistakes: Evaluation['mistakes'] = [];
  let correct = 0;
  let labelled = 0;
  let labelledRight = 0;
  for (const photo of photos) {
    const line = byFile.get(photo.file);
    if (!line) throw new Error(`vegkiosk classify printed no result for ${photo.file}`);
    const best = line.top[0]!;
    confusion[index.get(photo.label)!]![index.get(best.label)!]!++;
    perClass[photo.label]!.n++;
    if (best.score >= threshold) {
      labelled++;
      if (best.label === photo.label) labelledRight++;
    }
    if (best.label === photo.label) {
      correct++;
      perClass[photo.label]!.correct++;
    } else {
      mistakes.push({ file: photo.file.slice(dataDir.length + 1), truth: photo.label, predicted: best.label, score: best.score });
    }
  }
  return {
    model: modelPath,
    ep: lines[0]?.ep ?? 'unknown',
    n: photos.length,
    correct,
    accuracy: photos.length ? correct / photos.length : 0,
    threshold,
    coverage: photos.length ? labelled / photos.length : 0,
    precision: labelled ? labelledRight / labelled : 1,
    perClass,
    confusion,
    labels,
    mistakes,
  };
}

/** The figures a manifest carries about its own accuracy, checked again by test/model-accuracy.test.ts. */
export interface RecordedEvaluation {
  dataset: string;
  measuredWith: string;
  n: number;
  correct: number;
  top1: number;
  /** At the manifest's score threshold. */
  threshold?: number;
  coverage?: number;
  precision?: number;
}

/** The figures `--record` wrote into a model's manifest, if any. */
export function recordedEvaluation(modelPath: string): RecordedEvaluation | undefined {
  return (JSON.parse(readFileSync(modelPath.replace(/\.onnx$/, '.json'), 'utf8')) as { evaluation?: RecordedEvaluation }).evaluation;
}

function recordInManifest(e: Evaluation): void {
  const manifestPath = e.model.replace(/\.onnx$/, '.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
  const evaluation: RecordedEvaluation = {
    dataset: 'Grocery Store Dataset val split, vegetable classes',
    measuredWith: 'scripts/evaluate-model.ts (vegkiosk classify --json, cpu)',
    n: e.n,
    correct: e.correct,
    top1: Math.round(e.accuracy * 1000) / 1000,
    threshold: e.threshold,
    coverage: Math.round(e.coverage * 1000) / 1000,
    precision: Math.round(e.precision * 1000) / 1000,
  };
  manifest.evaluation = evaluation;
  const tmp = `${manifestPath}.tmp`;
  writeFileSync(tmp, JSON.stringify(manifest, null, 2) + '\n');
  renameSync(tmp, manifestPath);
}

function markdown(e: Evaluation): string {
  const short = e.labels.map((l) => l.replace('-', '').slice(0, 3));
  const rows = [
    `top-1 ${e.accuracy.toFixed(3)} (${e.correct}/${e.n}) on ${e.ep}, ${e.model}`,
    `at the score threshold ${e.threshold}: coverage ${e.coverage.toFixed(3)}, precision ${e.precision.toFixed(3)}`,
    '',
    '| class | correct / n |',
    '| --- | --- |',
    ...e.labels.map((l) => `| ${l} | ${e.perClass[l]!.correct} / ${e.perClass[l]!.n} |`),
    '',
    `| truth \\ pred | ${short.join(' | ')} |`,
    `| --- ${'| --- '.repeat(short.length)}|`,
    ...e.confusion.map((row, i) => `| ${e.labels[i]} | ${row.map((v) => (v ? String(v) : '.')).join(' | ')} |`),
  ];
  return rows.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const dataDir = resolve(value('--data') ?? DEFAULT_DATA_DIR);
  if (!existsSync(join(dataDir, 'grocery', 'dataset', 'val.txt'))) {
    process.stderr.write(`evaluate-model: no Grocery Store data at ${dataDir} (expected grocery/dataset/val.txt; pass --data DIR)\n`);
    process.exit(2);
  }
  const detection = value('--detection');
  if (detection !== undefined && detection !== 'on' && detection !== 'off') {
    process.stderr.write('evaluate-model: --detection is on or off\n');
    process.exit(2);
  }
  const result = await evaluateOnGroceryVal({ dataDir, model: value('--model'), detector: value('--detector'), detection });
  if (argv.includes('--record')) recordInManifest(result);
  process.stdout.write((argv.includes('--json') ? JSON.stringify(result, null, 1) : markdown(result)) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`evaluate-model: ${err.message}\n`);
    process.exit(1);
  });
}
