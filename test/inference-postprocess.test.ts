import { expect } from 'chai';
import {
  classify, decodeYolov8, iou, nmsPerClass, OutputShapeError, softmax, toSourceBox, type BoxGeometry, type OutputSpec,
} from '../device/inference/postprocess.ts';

const close = (actual: number, expected: number, eps = 1e-9) => expect(actual).to.be.closeTo(expected, eps);

describe('inference postprocess: classifier', () => {
  const spec = (over: Partial<OutputSpec> = {}): OutputSpec => ({
    labels: ['A', 'B', 'C'], output: { format: 'logits' }, thresholds: { score: 0.3, iou: 0.5 }, ...over,
  });

  it('softmax of [0, ln 3, ln 4] is [1/8, 3/8, 4/8]', () => {
    const p = softmax([0, Math.log(3), Math.log(4)]);
    close(p[0]!, 0.125); close(p[1]!, 0.375); close(p[2]!, 0.5);
  });

  it('softmax does not overflow on large logits', () => {
    const p = softmax([1000, 1000, -1000]);
    close(p[0]!, 0.5); close(p[1]!, 0.5); close(p[2]!, 0);
  });

  it('logits: applies softmax, ranks best first, labels the best above the threshold', () => {
    const r = classify(Float32Array.from([0, Math.log(3), Math.log(4)]), spec());
    expect(r.kind).to.equal('classifier');
    expect(r.label).to.equal('C');
    expect(r.top.map((t) => t.label)).to.deep.equal(['C', 'B', 'A']);
    close(r.score, 0.5, 1e-6); close(r.top[1]!.score, 0.375, 1e-6); close(r.top[2]!.score, 0.125, 1e-6);
    expect(r.detections).to.deep.equal([]);
  });

  it('label is null when the best score is under thresholds.score, the score is still reported', () => {
    const r = classify([0, Math.log(3), Math.log(4)], spec({ thresholds: { score: 0.6, iou: 0.5 } }));
    expect(r.label).to.equal(null);
    close(r.score, 0.5);
  });

  it('softmax format: scores are used as given', () => {
    const r = classify([0.2, 0.7, 0.1], spec({ output: { format: 'softmax' } }));
    expect(r.label).to.equal('B');
    close(r.score, 0.7, 1e-12);
    expect(r.top.map((t) => t.label)).to.deep.equal(['B', 'A', 'C']);
  });

  it('top holds at most 5 entries', () => {
    const labels = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    const r = classify([7, 6, 5, 4, 3, 2, 1].map((v) => v / 28), spec({ labels, output: { format: 'softmax' } }));
    expect(r.top.map((t) => t.label)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
  });

  it('an output length that does not match the labels names the manifest field', () => {
    expect(() => classify([1, 2], spec())).to.throw(OutputShapeError, /3 labels.*"labels"/);
  });
});

describe('inference postprocess: boxes', () => {
  it('IoU of two 2x2 squares overlapping by 1x1 is 1/7; disjoint or touching is 0', () => {
    close(iou([0, 0, 2, 2], [1, 1, 3, 3]), 1 / 7);
    expect(iou([0, 0, 1, 1], [2, 2, 3, 3])).to.equal(0);
    expect(iou([0, 0, 1, 1], [1, 0, 2, 1])).to.equal(0);
    expect(iou([0, 0, 0, 0], [0, 0, 0, 0])).to.equal(0);
  });

  it('NMS drops overlapping boxes of the same class only', () => {
    const kept = nmsPerClass([
      { box: [0, 0, 10, 10], score: 0.8, classIndex: 0 },
      { box: [1, 0, 11, 10], score: 0.9, classIndex: 0 }, // IoU 90/110 with the first: drops it
      { box: [0, 0, 10, 10], score: 0.7, classIndex: 1 }, // other class: kept
      { box: [20, 20, 30, 30], score: 0.6, classIndex: 0 }, // far away: kept
    ], 0.5);
    expect(kept.map((k) => [k.score, k.classIndex])).to.deep.equal([[0.9, 0], [0.7, 1], [0.6, 0]]);
  });

  it('letterbox 128x64 → 64x64 (scale 0.5, 16 px border top and bottom) maps back to the source', () => {
    const g: BoxGeometry = { sourceWidth: 128, sourceHeight: 64, scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 16 };
    // x: 16/0.5/128 = 0.25, 48/0.5/128 = 0.75; y: (24-16)/0.5/64 = 0.25, (40-16)/0.5/64 = 0.75
    expect(toSourceBox([16, 24, 48, 40], g)).to.deep.equal([0.25, 0.25, 0.75, 0.75]);
  });

  it('center-crop 200x100 → 50x50 (scale 0.5, 25 px cropped left) maps back to the source', () => {
    const g: BoxGeometry = { sourceWidth: 200, sourceHeight: 100, scaleX: 0.5, scaleY: 0.5, padX: -25, padY: 0 };
    // x: (0+25)/0.5/200 = 0.25, (50+25)/0.5/200 = 0.75; y: 0..50 → 0..100 → 0..1
    expect(toSourceBox([0, 0, 50, 50], g)).to.deep.equal([0.25, 0, 0.75, 1]);
  });

  it('stretch 100x50 → 50x50 scales the axes independently', () => {
    const g: BoxGeometry = { sourceWidth: 100, sourceHeight: 50, scaleX: 0.5, scaleY: 1, padX: 0, padY: 0 };
    // x: 10/0.5/100 = 0.2, 20/0.5/100 = 0.4; y: 10/50 = 0.2, 20/50 = 0.4
    const b = toSourceBox([10, 10, 20, 20], g);
    [0.2, 0.2, 0.4, 0.4].forEach((e, i) => close(b[i]!, e, 1e-12));
  });

  it('boxes past the picture (or into the letterbox border) are clamped to 0..1', () => {
    const g: BoxGeometry = { sourceWidth: 128, sourceHeight: 64, scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 16 };
    expect(toSourceBox([-10, 0, 70, 64], g)).to.deep.equal([0, 0, 1, 1]);
  });
});

describe('inference postprocess: yolov8 decoding', () => {
  const spec: OutputSpec = { labels: ['cat', 'dog'], output: { format: 'yolov8' }, thresholds: { score: 0.5, iou: 0.5 } };
  const identity: BoxGeometry = { sourceWidth: 100, sourceHeight: 100, scaleX: 1, scaleY: 1, padX: 0, padY: 0 };
  // [1, 6, 4]: rows cx, cy, w, h, score(cat), score(dog); columns are the 4 anchors.
  const rows = [
    [50, 52, 20, 90], // cx
    [50, 50, 20, 90], // cy
    [20, 20, 20, 20], // w
    [40, 40, 20, 20], // h
    [0.9, 0.8, 0.1, 0.4],
    [0.1, 0.05, 0.6, 0.45],
  ];
  const output = Float32Array.from(rows.flat());

  it('thresholds, suppresses per class and maps to normalised boxes, best first', () => {
    const r = decodeYolov8(output, [1, 6, 4], spec, identity);
    // anchor 0: cat 0.9, box x 40..60, y 30..70 → [0.4,0.3,0.6,0.7]
    // anchor 1: cat 0.8, box x 42..62, y 30..70: IoU with anchor 0 = 18*40/(800+800-720) = 0.82 → suppressed
    // anchor 2: dog 0.6, box x 10..30, y 10..30 → [0.1,0.1,0.3,0.3]
    // anchor 3: best is dog 0.45 < 0.5 → dropped
    expect(r.detections.length).to.equal(2);
    expect(r.detections[0]!.label).to.equal('cat');
    close(r.detections[0]!.score, 0.9, 1e-6);
    r.detections[0]!.box.forEach((v, i) => close(v, [0.4, 0.3, 0.6, 0.7][i]!, 1e-6));
    expect(r.detections[1]!.label).to.equal('dog');
    close(r.detections[1]!.score, 0.6, 1e-6);
    r.detections[1]!.box.forEach((v, i) => close(v, [0.1, 0.1, 0.3, 0.3][i]!, 1e-6));
    expect(r.kind).to.equal('detector');
    expect(r.label).to.equal('cat');
    expect(r.top.map((t) => t.label)).to.deep.equal(['cat', 'dog']);
  });

  it('no detection above the threshold gives label null and score 0', () => {
    const r = decodeYolov8(output, [1, 6, 4], { ...spec, thresholds: { score: 0.95, iou: 0.5 } }, identity);
    expect(r).to.deep.include({ label: null, score: 0, detections: [], top: [] });
  });

  it('maxDetections caps the list', () => {
    const r = decodeYolov8(output, [1, 6, 4], spec, identity, { maxDetections: 1 });
    expect(r.detections.map((d) => d.label)).to.deep.equal(['cat']);
  });

  it('a shape that does not fit the labels names the manifest fields to fix', () => {
    expect(() => decodeYolov8(output, [1, 8, 3], spec, identity)).to.throw(OutputShapeError, /\[1,6,anchors\].*"labels"/);
  });
});
