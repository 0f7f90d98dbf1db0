/**
 * Learning on the device, measured (issue 18): the five Grocery classes held back from the default
 * classifier's training (Avocado, Banana, Kiwi, Lemon, Pomegranate) are taught with the first five
 * photos of each by file name (train and val together), through the kiosk's own learning code
 * (crop, embed, store, imprinted head), and then:
 *   - top-1 on their other photos, over all classes (model + the five learned);
 *   - the vegetables' val top-1 without and with the five learned classes present.
 * Also the time each learn request took (five photos: crop, embed, durable write).
 *
 *   node --import tsx scripts/evaluate-learning.ts [--model F.onnx] [--data DIR] [--json]
 *
 * Photos are read from ../shared/data beside the checkout; the learned classes live in a temp directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveThreads } from '../device/inference/execution-providers.ts';
import type { Prediction } from '../device/inference/model.ts';
import { configureSharp } from '../device/inference/preprocess.ts';
import { WorkerModel } from '../device/inference/worker-model.ts';
import { LearnedClasses } from '../device/learning/learned-classes.ts';
import { DEFAULT_DATA_DIR, groceryValPhotos } from './evaluate-model.ts';
import { PACKAGE_ROOT } from './soak-service.ts';

export const HELD_BACK = ['Avocado', 'Banana', 'Kiwi', 'Lemon', 'Pomegranate'];
export const EXAMPLES_PER_CLASS = 5;

interface Photo {
  file: string;
  label: string;
}

/** Train and val photos of the given coarse classes (names from classes.csv), each class sorted by file name. */
export function groceryPhotosOf(dataDir: string, labels: readonly string[]): Map<string, Photo[]> {
  const root = join(dataDir, 'grocery', 'dataset');
  const coarseName = new Map<number, string>();
  for (const line of readFileSync(join(root, 'classes.csv'), 'utf8').split('\n').slice(1)) {
    const cols = line.split(',');
    if (cols.length >= 4) coarseName.set(Number(cols[3]), cols[2]!.trim());
  }
  const byClass = new Map(labels.map((l) => [l, [] as Photo[]]));
  for (const list of ['train.txt', 'val.txt']) {
    for (const line of readFileSync(join(root, list), 'utf8').split('\n')) {
      const [path, , coarse] = line.split(',').map((s) => s.trim());
      const label = path && coarse !== undefined ? coarseName.get(Number(coarse)) : undefined;
      if (label && byClass.has(label)) byClass.get(label)!.push({ file: join(root, path!), label });
    }
  }
  for (const photos of byClass.values()) photos.sort((a, b) => basename(a.file).localeCompare(basename(b.file)) || a.file.localeCompare(b.file));
  return byClass;
}

export interface LearningEvaluation {
  model: string;
  heldBack: { n: number; correct: number; accuracy: number; perClass: Record<string, { n: number; correct: number }> };
  vegetables: { n: number; withoutLearned: number; withLearned: number; drop: number };
  learnMs: { perRequest: number[]; median: number; max: number };
}

async function predict(model: WorkerModel, file: string): Promise<Prediction> {
  const input = await model.prepare(await readFile(file));
  try {
    return await model.run(input);
  } finally {
    input.release();
  }
}

export async function evaluateLearning(opts: { model?: string; dataDir?: string } = {}): Promise<LearningEvaluation> {
  const dataDir = opts.dataDir ?? DEFAULT_DATA_DIR;
  const modelPath = resolve(opts.model ?? join(PACKAGE_ROOT, 'models', 'vegetables-v2.onnx'));
  const store = mkdtempSync(join(tmpdir(), 'vegkiosk-evaluate-learning-'));
  configureSharp({ concurrency: 1, cache: false });
  const model = await WorkerModel.load(modelPath, { executionProviders: ['cpu'], threads: resolveThreads(0), dataDir: store, logLevel: 'warn' });
  try {
    const learned = await LearnedClasses.open(store, model);
    if (!learned.supported) throw new Error(`${modelPath} has no cosine head: it cannot learn classes`);
    const vegetables = groceryValPhotos(dataDir, model.manifest.labels);
    const heldBack = groceryPhotosOf(dataDir, HELD_BACK);
    const tests = [...heldBack.values()].flatMap((photos) => photos.slice(EXAMPLES_PER_CLASS));

    // The model's own predictions (embedding included), once per photo; the learned head is then
    // applied to them exactly as WorkerModel applies it to every run.
    const own = new Map<string, Prediction>();
    for (const p of [...vegetables, ...tests]) own.set(p.file, await predict(model, p.file));
    const withoutLearned = vegetables.filter((p) => own.get(p.file)!.top[0]!.label === p.label).length;

    const perRequest: number[] = [];
    for (const [label, photos] of heldBack) {
      const images = await Promise.all(photos.slice(0, EXAMPLES_PER_CLASS).map((p) => readFile(p.file)));
      const started = performance.now();
      await learned.learn(label, images);
      perRequest.push(Math.round(performance.now() - started));
    }
    const top1 = (p: Photo) => learned.extend(own.get(p.file)!).top[0]!.label;
    const withLearned = vegetables.filter((p) => top1(p) === p.label).length;
    const perClass: LearningEvaluation['heldBack']['perClass'] = {};
    for (const p of tests) {
      const c = (perClass[p.label] ??= { n: 0, correct: 0 });
      c.n++;
      if (top1(p) === p.label) c.correct++;
    }
    const correct = Object.values(perClass).reduce((n, c) => n + c.correct, 0);
    const sorted = [...perRequest].sort((a, b) => a - b);
    return {
      model: modelPath,
      heldBack: { n: tests.length, correct, accuracy: tests.length ? correct / tests.length : 0, perClass },
      vegetables: { n: vegetables.length, withoutLearned, withLearned, drop: withoutLearned - withLearned },
      learnMs: { perRequest, median: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted.at(-1) ?? 0 },
    };
  } finally {
    await model.close();
    rmSync(store, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { model: { type: 'string' }, data: { type: 'string' }, json: { type: 'boolean' } } });
  const r = await evaluateLearning({ model: values.model, dataDir: values.data });
  if (values.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
  } else {
    const pct = (x: number) => (x * 100).toFixed(1) + ' %';
    process.stdout.write([
      `model ${r.model}`,
      `held-back classes, taught with ${EXAMPLES_PER_CLASS} photos each: top-1 ${r.heldBack.correct}/${r.heldBack.n} = ${pct(r.heldBack.accuracy)} (target >= 85 %)`,
      ...Object.entries(r.heldBack.perClass).map(([l, c]) => `  ${l.padEnd(12)} ${c.correct}/${c.n}`),
      `vegetables val top-1: ${r.vegetables.withoutLearned}/${r.vegetables.n} without the learned classes, ${r.vegetables.withLearned}/${r.vegetables.n} with them ` +
        `(drop ${r.vegetables.drop} photo(s); target <= 1)`,
      `learn request (${EXAMPLES_PER_CLASS} photos): median ${r.learnMs.median} ms, max ${r.learnMs.max} ms (${r.learnMs.perRequest.join(', ')})`,
      '',
    ].join('\n'));
  }
}
