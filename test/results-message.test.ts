import { expect } from 'chai';
import type { PipelineResult } from '../device/results/pipeline-result.ts';
import { resultMessage } from '../device/results/result-message.ts';

// The one result shape the WebSocket and MQTT send (device/results/result-message.ts).
describe('result message (WebSocket and MQTT payload)', () => {
  const result = (extra: Partial<PipelineResult> = {}): PipelineResult => ({
    seq: 7, capturedAt: 1_700_000_000_000, kind: 'cascade', label: 'Kale', score: 0.93,
    top: [{ label: 'Kale', score: 0.93, source: 'learned' }, { label: 'Cabbage', score: 0.05 }],
    detections: [{ label: 'Kale', score: 0.93, box: [0.1, 0.2, 0.5, 0.6], detector: { label: 'lettuce', score: 0.7 }, source: 'learned' }],
    latencyMs: { preprocess: 3, inference: 9, total: 14 },
    jpeg: Buffer.from([0xff, 0xd8]),
    embedding: new Float32Array(4),
    ...extra,
  } as PipelineResult);

  it('says a label was learned on the kiosk, at the top and in each entry, and leaves the JPEG and embedding out', () => {
    const message = resultMessage(result({ source: 'learned' }));
    expect(message.source).to.equal('learned');
    expect(message.top[0]!.source).to.equal('learned');
    expect(message.detections[0]!.source).to.equal('learned');
    expect(message.detections[0]!.detector).to.deep.equal({ label: 'lettuce', score: 0.7 });
    const json = JSON.parse(JSON.stringify(message)) as Record<string, unknown>;
    expect(json).to.not.have.any.keys('jpeg', 'embedding');
  });

  it('carries no source for the model\'s own classes, and marks a reused result', () => {
    const message = resultMessage(result({ label: 'Cabbage', reused: true }));
    expect(message).to.not.have.property('source');
    expect(message.reused).to.equal(true);
  });
});
