import { loadConfig } from '../config/load-config.ts';
import { resolveThreads } from '../inference/execution-providers.ts';
import { runBenchmark, type BenchResult } from '../pipeline/benchmark.ts';
import { makeBenchFrames } from '../pipeline/benchmark-frames.ts';
import { CascadeModel } from '../inference/cascade-model.ts';
import { modelOverrides, openModel } from './load-model.ts';
import { intFlag, parseArgs, stringFlag } from './usage.ts';

export async function benchCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { model: 'value', frames: 'value', ep: 'value', json: 'boolean', 'prepare-ahead': 'value' });
  const frames = intFlag(args, 'frames', 10, 100000) ?? 300;
  const prepareAhead = intFlag(args, 'prepare-ahead', 1, 3);
  // Quiet logs: the benchmark's output is its report.
  const config = loadConfig({ overrides: { ...modelOverrides(stringFlag(args, 'model'), stringFlag(args, 'ep')), VEGKIOSK_LOG_LEVEL: 'warn' } });
  const model = await openModel(config);
  try {
    const pictures = await makeBenchFrames();
    const result = await runBenchmark({
      model,
      jpegs: pictures.jpegs,
      frameWidth: pictures.width,
      frameHeight: pictures.height,
      frames,
      threads: resolveThreads(config.inferenceThreads),
      prepareAhead,
    });
    // A cascade's figures are the whole of it: "inference" is the detector, the crops and the classifier's batch.
    const detector = model instanceof CascadeModel ? { detector: model.stages.detector.name, detectorVersion: model.stages.detector.version } : {};
    const report = { model: model.manifest.name, modelVersion: model.manifest.version, ...detector, frameSource: pictures.origin, ...result };
    process.stdout.write(args.flags.has('json') ? JSON.stringify(report) + '\n' : formatReport(report));
  } finally {
    await model.close();
  }
  return 0;
}

function formatReport(r: BenchResult & { model: string; detector?: string; frameSource: string }): string {
  return [
    `model ${r.detector ? `${r.detector} then ${r.model} (cascade; "inference" is detection, crops and classification)` : r.model} on ${r.ep}, ${r.threads} inference thread(s), ${r.prepareAhead} frame(s) preprocessed ahead, ${r.frames} frames of ${r.frameWidth}x${r.frameHeight} JPEG`,
    `frames: ${r.frameSource}`,
    `  inference alone   ${r.bareFps.toFixed(1).padStart(8)} fps  (${r.inferenceMs} ms/frame)`,
    `  preprocess alone  ${r.preprocessFps.toFixed(1).padStart(8)} fps  (${r.preprocessMs} ms/frame)`,
    `  serial            ${r.serialFps.toFixed(1).padStart(8)} fps`,
    `  pipeline          ${r.pipelineFps.toFixed(1).padStart(8)} fps`,
    `  ratio pipeline / slowest stage: ${r.ratio}`,
    `  frame-to-result latency p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms; RSS ${r.rssMb} MB`,
    '',
  ].join('\n');
}
