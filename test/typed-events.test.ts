import { expect } from 'chai';
import type { FrameSource } from '../device/camera/frame-source.ts';
import { SyntheticSource } from '../device/camera/synthetic-source.ts';
import type { WorkerModel } from '../device/inference/worker-model.ts';
import { ResultBus } from '../device/pipeline/result-bus.ts';

// The compiler is the test here: `tsc --noEmit` (the first half of `npm test`) fails if any line
// marked @ts-expect-error compiles, i.e. if an event map stopped catching a misspelt event name or a
// listener of the wrong shape. The functions are never called; they only have to type-check.

function frameSourceEvents(source: FrameSource): void {
  source.on('frame', (frame) => frame.seq);
  source.on('state', (state) => state.toUpperCase());
  // @ts-expect-error misspelt event name
  source.on('frames', () => undefined);
  // @ts-expect-error a frame is not a string
  source.on('frame', (frame: string) => frame);
  // @ts-expect-error 'state' carries a SourceState, not a Frame
  source.once('state', (frame: { seq: number }) => frame.seq);
  // @ts-expect-error emitting without the frame
  source.emit('frame');
}

function workerModelEvents(model: WorkerModel): void {
  model.on('restart', ({ reason }) => reason.length);
  // @ts-expect-error misspelt event name
  model.on('restarted', () => undefined);
  // @ts-expect-error the payload is { reason }, not a number
  model.on('restart', (code: number) => code);
}

function resultBusEvents(bus: ResultBus): void {
  bus.on('result', (result) => result.seq);
  // @ts-expect-error misspelt event name
  bus.on('results', () => undefined);
}

describe('typed events (FrameSource, WorkerModel, ResultBus)', () => {
  it('are checked by the compiler; at run time the same names are the ones emitted', async () => {
    expect([frameSourceEvents, workerModelEvents, resultBusEvents]).to.have.length(3);
    const source = new SyntheticSource({ width: 64, height: 48, fps: 30, stallMs: 1000, encoding: 'raw' });
    const states: string[] = [];
    source.on('state', (state) => states.push(state));
    const frame = new Promise<number>((resolve) => source.once('frame', (f) => resolve(f.seq)));
    await source.start();
    try {
      expect(await frame).to.equal(1);
      expect(states).to.include('running');
    } finally {
      await source.stop();
    }
    const bus = new ResultBus();
    const seen: number[] = [];
    bus.on('result', (r) => seen.push(r.seq));
    bus.publish({ seq: 7, capturedAt: 0, latencyMs: { preprocess: 0, inference: 0, total: 0 }, kind: 'classifier', label: null, score: 0, top: [], detections: [] });
    expect(seen).to.deep.equal([7]);
  });
});
