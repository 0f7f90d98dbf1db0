// Runs an ONNX model once with onnxruntime-node, the runtime vegkiosk ships (there is no onnxruntime
// for this Python), so the Python tests can compare the rebuilt network against the real thing.
//   node onnx_run.mjs <model.onnx> <input.f32> <d0,d1,d2,d3> <output.f32>
// Input and output are raw little-endian float32; the output's dims go to stdout as JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

const [modelPath, inputPath, dimsText, outputPath] = process.argv.slice(2);
const dims = dimsText.split(',').map(Number);
const raw = readFileSync(inputPath);
const data = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
const results = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
const out = results[session.outputNames[0]];
writeFileSync(outputPath, Buffer.from(out.data.buffer, out.data.byteOffset, out.data.byteLength));
process.stdout.write(JSON.stringify({ dims: out.dims }) + '\n');
await session.release();
