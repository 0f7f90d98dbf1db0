// Runs one onnxruntime session on its own thread. onnxruntime-node's session.run is synchronous
// under its promise, so on the main thread every inference would freeze HTTP, WebSockets and the
// watchdog for its whole duration; here it only occupies this worker, and a stuck run can be ended
// by terminating the worker.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../logger.ts';
import { loadModel, type OnnxModel } from './onnx-model.ts';
import type { InferenceWorkerInit, RunRequest, WorkerReply } from './worker-protocol.ts';

const init = workerData as InferenceWorkerInit;
const port = parentPort!;
const reply = (message: WorkerReply) => port.postMessage(message);

let model: OnnxModel;
try {
  model = await loadModel(init.modelPath, {
    executionProviders: init.executionProviders,
    threads: init.threads,
    dataDir: init.dataDir,
    logger: createLogger(init.logLevel).child({ stage: 'inference' }),
    scoreThreshold: init.scoreThreshold,
    // This side never preprocesses; one buffer is the smallest pool the preprocessor allows.
    poolSize: 1,
  });
  reply({ type: 'ready', manifest: model.manifest, executionProvider: model.executionProvider, attempts: [...model.providerAttempts], head: model.head });
} catch (err) {
  const e = err as Error & { file?: string; field?: string };
  reply({ type: 'failed', error: { name: e.name, message: e.message, file: e.file, field: e.field } });
  process.exit(0);
}

port.on('message', async (request: RunRequest) => {
  try {
    if ('batch' in request) {
      const predictions = await model.runBatch(request.batch.map((input) => ({ ...input, release() {} })));
      reply({ type: 'results', id: request.id, predictions });
    } else {
      const prediction = await model.run({ ...request.input, release() {} });
      reply({ type: 'result', id: request.id, prediction });
    }
  } catch (err) {
    reply({ type: 'error', id: request.id, message: (err as Error).message });
  }
});
