import { readFile } from 'node:fs/promises';
import { loadConfig } from '../config/load-config.ts';
import { collectImages } from './image-files.ts';
import { modelOverrides, openModel } from './load-model.ts';
import { parseArgs, stringFlag, UsageError } from './usage.ts';

/** `--min-score S`: a number from 0 to 1 that replaces the manifest's score threshold. */
function minScoreFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const score = Number(value);
  if (value.trim() === '' || !Number.isFinite(score) || score < 0 || score > 1) {
    throw new UsageError(`--min-score must be a number from 0 to 1 (got ${JSON.stringify(value)})`);
  }
  return score;
}

export async function classifyCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { model: 'value', ep: 'value', json: 'boolean', 'min-score': 'value' });
  const scoreThreshold = minScoreFlag(stringFlag(args, 'min-score'));
  if (!args.positional.length) throw new UsageError('classify needs at least one image file or directory');
  const json = args.flags.has('json');
  const files = await collectImages(args.positional);
  if (!files.length) throw new UsageError(`no .jpg, .png or .webp files in ${args.positional.join(', ')}`);
  const config = loadConfig({ overrides: { ...modelOverrides(stringFlag(args, 'model'), stringFlag(args, 'ep')), VEGKIOSK_LOG_LEVEL: 'warn' } });
  const model = await openModel(config, undefined, { scoreThreshold });
  let failures = 0;
  try {
    if (!json) process.stdout.write(`model ${model.manifest.name} ${model.manifest.version} on ${model.executionProvider}\n`);
    for (const file of files) {
      const started = performance.now();
      try {
        const input = await model.prepare(await readFile(file));
        const prediction = await model.run(input).finally(() => input.release());
        const ms = Math.round((performance.now() - started) * 100) / 100;
        const { label, score, source, top, detections } = prediction;
        if (json) {
          // `source` only for a label taught on this kiosk, as in results on the WebSocket and MQTT
          const line = { file, label, score, ...(source ? { source } : {}), top, detections, ms, ep: model.executionProvider };
          process.stdout.write(JSON.stringify(line) + '\n');
        } else {
          const shown = label ?? `(below threshold; best ${top[0]?.label ?? '-'})`;
          const extra = detections.length ? `  ${detections.length} detection(s)` : '';
          process.stdout.write(`${file}  ${shown}  ${(score * 100).toFixed(1)}%  ${ms} ms${extra}\n`);
        }
      } catch (err) {
        // One unreadable photo must not hide the results for the rest.
        failures++;
        process.stderr.write(`vegkiosk classify: ${file}: ${(err as Error).message}\n`);
      }
    }
  } finally {
    await model.close();
  }
  return failures ? 1 : 0;
}
