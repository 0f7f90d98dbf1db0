// Activation ranges for quantize_classifier.py, measured with the runtime vegkiosk ships: there is no
// onnxruntime for this Python, and the ranges must come from the exact tensors the kiosk computes, so
// the photos go through the runtime's own Preprocessor (sharp, center-crop, the manifest's mean/std).
//   node --import tsx models/training/calibrate_ranges.ts <instrumented.onnx> <manifest.json> <photos.txt> <out.json>
// photos.txt: one image path a line. The instrumented model exposes every tensor to be quantised as
// an extra graph output; out.json gets, per tensor, each photo's min and max (the Python side picks
// the statistic, so changing it needs no rerun of the model).
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { readManifest } from '../../device/inference/manifest.ts';
import { Preprocessor } from '../../device/inference/preprocess.ts';

const [modelPath, manifestPath, listPath, outPath] = process.argv.slice(2);
if (!outPath) {
  process.stderr.write('usage: calibrate_ranges.ts <instrumented.onnx> <manifest.json> <photos.txt> <out.json>\n');
  process.exit(2);
}
const manifest = await readManifest(manifestPath!);
const photos = readFileSync(listPath!, 'utf8').split('\n').filter(Boolean);
const pre = new Preprocessor(manifest.input, { poolSize: 1 });
// Optimisation off: fusions could drop the intermediate tensors the ranges are about.
const session = await ort.InferenceSession.create(modelPath!, { intraOpNumThreads: 2, graphOptimizationLevel: 'disabled' });
const dims = [1, 3, manifest.input.height, manifest.input.width];
const inputName = session.inputNames[0]!;
// The input is quantised too, so its range is recorded like the exposed tensors'.
const names = [inputName, ...session.outputNames];
const ranges: Record<string, { min: number[]; max: number[] }> = Object.fromEntries(names.map((n) => [n, { min: [], max: [] }]));

for (const photo of photos) {
  const prepared = await pre.prepare(readFileSync(photo));
  const input = new ort.Tensor('float32', prepared.data, dims);
  const seen: Record<string, ort.Tensor> = { ...(await session.run({ [inputName]: input })), [inputName]: input };
  for (const name of names) {
    const data = seen[name]!.data as Float32Array;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    ranges[name]!.min.push(lo);
    ranges[name]!.max.push(hi);
  }
  prepared.release();
}
await session.release();
writeFileSync(outPath!, JSON.stringify({ photos: photos.length, ranges }) + '\n');
process.stdout.write(`calibrated ${names.length} tensors on ${photos.length} photos\n`);
