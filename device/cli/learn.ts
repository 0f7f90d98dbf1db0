import { readFile } from 'node:fs/promises';
import { loadConfig } from '../config/load-config.ts';
import { manifestPathFor, readManifest } from '../inference/manifest.ts';
import { checkLabel } from '../learning/class-labels.ts';
import { classList, forgetClass } from '../learning/class-catalogue.ts';
import { LearnedStore } from '../learning/learned-store.ts';
import { LearningError } from '../learning/learning-error.ts';
import { createLogger } from '../logger.ts';
import { AuditLog } from '../store/audit-log.ts';
import { collectImages } from './image-files.ts';
import { modelOverrides, openRecognition } from './load-model.ts';
import { parseArgs, stringFlag, UsageError } from './usage.ts';

/**
 * `vegkiosk learn <label> <image-or-dir>…`, `learn --list`, `learn --forget <label>`: the learned
 * classes in the data directory, which a running service picks up within a second.
 */
export async function learnCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { list: 'boolean', forget: 'value', model: 'value', ep: 'value', json: 'boolean' });
  const forget = stringFlag(args, 'forget');
  const config = loadConfig({ overrides: { ...modelOverrides(stringFlag(args, 'model'), stringFlag(args, 'ep')), VEGKIOSK_LOG_LEVEL: 'warn' } });
  const json = args.flags.has('json');
  const out = (text: string, value: unknown) => process.stdout.write(json ? JSON.stringify(value) + '\n' : text + '\n');

  if (args.flags.has('list') || forget !== undefined) {
    if (args.positional.length || (args.flags.has('list') && forget !== undefined)) {
      throw new UsageError('learn --list and learn --forget <label> take nothing else');
    }
    // Neither needs the model itself, only its labels: no onnxruntime, no waiting.
    const modelLabels = (await readManifest(manifestPathFor(config.model))).labels;
    const store = new LearnedStore(config.dataDir);
    if (forget !== undefined) {
      const result = learningCall(() => forgetClass(store, modelLabels, forget));
      new AuditLog(config.dataDir).record({ event: 'class_forgotten', actor: 'console', label: result.label, count: result.examples });
      out(`forgot ${result.label} (${result.examples} examples)`, result);
      return 0;
    }
    const classes = classList(store.data, modelLabels).filter((c) => c.source === 'learned' || c.examples > 0);
    if (json) out('', { classes });
    else if (!classes.length) out('no classes learned on this kiosk yet (vegkiosk learn <label> <photos> teaches one)', null);
    else for (const c of classes) out(`${c.label}  ${c.examples} example(s)${c.source === 'model' ? '  (refines the model class)' : ''}`, c);
    return 0;
  }

  const [label, ...paths] = args.positional;
  if (!label || !paths.length) throw new UsageError('learn needs a label and at least one image file or directory');
  try {
    checkLabel(label);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const files = await collectImages(paths);
  if (!files.length) throw new UsageError(`no .jpg, .png or .webp files in ${paths.join(', ')}`);
  const images = await Promise.all(files.map((f) => readFile(f)));
  const logger = createLogger('info');
  const { model, learned } = await openRecognition(config, logger, { persistLearned: true, detection: false });
  try {
    const started = performance.now();
    const result = await learningCallAsync(() => learned.learn(label, images), files);
    new AuditLog(config.dataDir).record({ event: 'class_learned', actor: 'console', label: result.label, count: files.length, detail: `${result.examples} examples now` });
    out(`learned ${result.label}: ${files.length} photo(s) added, ${result.examples} example(s) in all (${Math.round(performance.now() - started)} ms)`, result);
  } finally {
    await model.close();
  }
  return 0;
}

function learningCall<R>(fn: () => R): R {
  try {
    return fn();
  } catch (err) {
    if (err instanceof LearningError && err.code === 'bad_label') throw new UsageError(err.message);
    throw err;
  }
}

async function learningCallAsync<R>(fn: () => Promise<R>, files: string[]): Promise<R> {
  try {
    return await fn();
  } catch (err) {
    // "photo 3 of 5: …" names the file instead.
    const m = err instanceof LearningError ? /^photo (\d+) of \d+: (.*)$/.exec(err.message) : null;
    if (m) throw new LearningError((err as LearningError).code, `${files[Number(m[1]) - 1]}: ${m[2]}`);
    if (files.length === 1 && err instanceof LearningError && err.code === 'no_usable_crop') throw new LearningError(err.code, `${files[0]}: ${err.message}`);
    throw err;
  }
}
