import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { DEFAULT_DETECTOR } from '../device/config/load-config.ts';
import { CascadeModel, MAIN_ITEM_AREA } from '../device/inference/cascade-model.ts';
import { cropRect } from '../device/inference/item-crops.ts';
import type { Model, Prediction, PreparedInput } from '../device/inference/model.ts';
import { WorkerModel } from '../device/inference/worker-model.ts';
import { writeTestClassifier, writeTestDetector, type WrittenModel } from '../scripts/onnx/make-test-models.ts';
import { freePort, LogWatcher, runCli, startCli } from './support/cli.ts';
import { tempDir } from './support/https-fixtures.ts';

/**
 * A 640x320 picture: red on the left half, blue on the right. The test classifier names a red crop
 * Carrots and a blue one Potato (each class answers one colour channel); the test detector's fixed
 * boxes, in its 64x64 letterboxed input (scale 0.1, 16 px bars above and below), sit one on each half.
 */
const W = 640, H = 320;
const halves = () => sharp({ create: { width: W, height: H, channels: 3, background: { r: 220, g: 30, b: 30 } } })
  .composite([{ input: { create: { width: W / 2, height: H, channels: 3, background: { r: 30, g: 30, b: 220 } } }, left: W / 2, top: 0 }])
  .jpeg({ quality: 95 }).toBuffer();

/** [cx, cy, w, h, apple, orange] in detector input pixels. */
const LEFT_BIG = [16, 32, 28, 28, 0.9, 0.1]; // source 20..300 x 20..300: 38 % of the frame
const RIGHT_SMALL = [48, 32, 20, 20, 0.2, 0.8]; // source 380..580 x 60..260: 20 %
const NOTHING = [10, 10, 4, 4, 0.1, 0.1]; // under the threshold

/** serve's log up to its first result, then it is stopped. */
async function serveLogLines(env: Record<string, string>): Promise<Record<string, unknown>[]> {
  const port = String(await freePort());
  const child = startCli(['serve'], { VEGKIOSK_CAMERA: 'synthetic', VEGKIOSK_PORT: port, VEGKIOSK_TLS: 'off', VEGKIOSK_LOG_LEVEL: 'info', ...env });
  const log = new LogWatcher(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise((done) => child.once('exit', done));
  try {
    const ready = await Promise.race([log.waitFor((l) => l.msg === 'first frame inferred; ready'), exited.then(() => null)]);
    if (!ready) throw new Error(`serve exited: ${stderr}`);
    return log.lines;
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

/** The classifier, counting how it is run, so a test can tell one batch from several runs. */
class CountingModel implements Model {
  batches = 0;
  batchSizes: number[] = [];
  runs = 0;
  constructor(readonly inner: WorkerModel) {}
  get manifest() { return this.inner.manifest; }
  get executionProvider() { return this.inner.executionProvider; }
  prepare(image: Parameters<Model['prepare']>[0]) { return this.inner.prepare(image); }
  run(input: PreparedInput) { this.runs++; return this.inner.run(input); }
  runBatch(inputs: readonly PreparedInput[]) { this.batches++; this.batchSizes.push(inputs.length); return this.inner.runBatch(inputs); }
  close() { return this.inner.close(); }
}

describe('detect, then classify (CascadeModel on real onnxruntime workers, real sharp)', function () {
  let dir: ReturnType<typeof tempDir>;
  let classifierFiles: WrittenModel;
  let picture: Buffer;
  const open: Model[] = [];

  const load = async (path: string) => {
    const m = await WorkerModel.load(path, { executionProviders: ['cpu'], threads: 1, dataDir: dir.path, logLevel: 'silent', poolSize: 20 });
    open.push(m);
    return m;
  };
  async function cascadeWith(anchors: number[][], name: string): Promise<{ cascade: CascadeModel; classifier: CountingModel }> {
    const detector = await writeTestDetector(dir.path, { name, labels: ['apple', 'orange'], anchors, scoreThreshold: 0.5 });
    const classifier = new CountingModel(await load(classifierFiles.onnxPath));
    return { cascade: new CascadeModel(await load(detector.onnxPath), classifier), classifier };
  }
  async function once(model: Model, image: Buffer): Promise<Prediction> {
    const input = await model.prepare(image);
    try {
      return await model.run(input);
    } finally {
      input.release();
    }
  }

  before(async () => {
    dir = tempDir();
    classifierFiles = await writeTestClassifier(dir.path, { size: 32, resize: 'stretch' });
    picture = await halves();
    await writeFile(join(dir.path, 'halves.jpg'), picture);
  });

  after(async () => {
    await Promise.all(open.map((m) => m.close()));
    dir?.remove();
  });

  it('names each detected item with the classifier, from its own crop, in one batched run, keeping the detector\'s answer beside it', async () => {
    const { cascade, classifier } = await cascadeWith([LEFT_BIG, RIGHT_SMALL, NOTHING], 'two-boxes');
    const p = await once(cascade, picture);
    expect(p.kind).to.equal('cascade');
    expect(p.detections).to.have.length(2);
    const [left, right] = [...p.detections].sort((a, b) => a.box[0] - b.box[0]);
    expect(left).to.deep.include({ label: 'Carrots', detector: { label: 'apple', score: left!.detector!.score } });
    expect(left!.detector!.score).to.be.closeTo(0.9, 1e-6);
    expect(right).to.deep.include({ label: 'Potato', detector: { label: 'orange', score: right!.detector!.score } });
    expect(left!.box.map((v) => Math.round(v * 1000) / 1000)).to.deep.equal([20 / W, 20 / H, 300 / W, 300 / H].map((v) => Math.round(v * 1000) / 1000));
    // Both crops in one session.run; nothing run one by one.
    expect(classifier.batches).to.equal(1);
    expect(classifier.batchSizes).to.deep.equal([2]);
    expect(classifier.runs).to.equal(0);
    // The main item is the largest box: its crop's answer is the result's.
    expect(p.label).to.equal('Carrots');
    expect(p.score).to.equal(left!.score);
    expect(p.top[0]!.label).to.equal('Carrots');
  });

  it('a crop classified in a batch scores as it does alone', async () => {
    const classifier = await load(classifierFiles.onnxPath);
    const crops = await Promise.all(
      [[0, 0, 300, 300], [360, 40, 240, 240]].map(([left, top, width, height]) =>
        sharp(picture).extract({ left: left!, top: top!, width: width!, height: height! }).png().toBuffer()));
    const inputs = await Promise.all(crops.map((c) => classifier.prepare(c)));
    const batched = await classifier.runBatch(inputs);
    const alone = await Promise.all(inputs.map((i) => classifier.run(i)));
    inputs.forEach((i) => i.release());
    batched.forEach((b, i) => {
      expect(b.label).to.equal(alone[i]!.label);
      expect(b.score).to.be.closeTo(alone[i]!.score, 1e-6);
    });
    expect(batched.map((b) => b.label)).to.deep.equal(['Carrots', 'Potato']);
  });

  it('answers for the whole frame, as the classifier alone does, when nothing is detected', async () => {
    const { cascade } = await cascadeWith([NOTHING], 'nothing');
    const alone = await load(classifierFiles.onnxPath);
    const [p, whole] = [await once(cascade, picture), await once(alone, picture)];
    expect(p.kind).to.equal('cascade');
    expect(p.detections).to.deep.equal([]);
    expect(p.label).to.equal(whole.label);
    expect(p.score).to.be.closeTo(whole.score, 1e-9);
    expect(p.top.map((t) => t.label)).to.deep.equal(whole.top.map((t) => t.label));
  });

  it(`answers for the whole frame when no box covers ${MAIN_ITEM_AREA * 100} % of it, while still naming each item`, async () => {
    const { cascade, classifier } = await cascadeWith([RIGHT_SMALL], 'small-box');
    const alone = await load(classifierFiles.onnxPath);
    const [p, whole] = [await once(cascade, picture), await once(alone, picture)];
    expect(p.detections.map((d) => d.label)).to.deep.equal(['Potato']);
    expect(p.score).to.be.closeTo(whole.score, 1e-6);
    expect(p.top.map((t) => t.label)).to.deep.equal(whole.top.map((t) => t.label));
    // The whole frame rode in the same batch as the crop.
    expect(classifier.batchSizes).to.deep.equal([2]);
  });

  it('applies the classifier\'s extension (the classes learned on the kiosk) to every crop', async () => {
    const { cascade, classifier } = await cascadeWith([LEFT_BIG, RIGHT_SMALL], 'learned');
    classifier.inner.extension = {
      extend: (q: Prediction): Prediction => q.label === 'Potato'
        ? { ...q, label: 'Blue Potato', source: 'learned', top: [{ label: 'Blue Potato', score: q.score, source: 'learned' }, ...q.top] }
        : q,
    };
    const p = await once(cascade, picture);
    const right = p.detections.find((d) => d.detector?.label === 'orange')!;
    expect(right).to.deep.include({ label: 'Blue Potato', source: 'learned' });
    expect(p.detections.find((d) => d.detector?.label === 'apple')).to.not.have.property('source');
  });

  it('crops with a context margin, clamped to the picture', () => {
    expect(cropRect([0.25, 0.25, 0.75, 0.75], 100, 100, 0.1)).to.deep.equal({ left: 20, top: 20, width: 60, height: 60 });
    expect(cropRect([0, 0.9, 0.5, 1], 100, 100, 0.1)).to.deep.equal({ left: 0, top: 89, width: 55, height: 11 });
  });

  describe('configuration (vegkiosk classify --json)', () => {
    it('runs the cascade configured by VEGKIOSK_DETECTOR and carries the boxes, and VEGKIOSK_DETECTION=off runs the classifier alone', async () => {
      const detector = await writeTestDetector(dir.path, { name: 'cli-detector', labels: ['apple', 'orange'], anchors: [LEFT_BIG, RIGHT_SMALL] });
      const env = { VEGKIOSK_MODEL: classifierFiles.onnxPath, VEGKIOSK_DETECTOR: detector.onnxPath, VEGKIOSK_DATA_DIR: dir.path };
      const on = runCli(['classify', '--json', join(dir.path, 'halves.jpg')], env);
      expect(on.status, on.stderr).to.equal(0);
      const line = JSON.parse(on.stdout);
      expect(line.label).to.equal('Carrots');
      expect(line.detections.map((d: { label: string; detector: { label: string } }) => [d.label, d.detector.label]).sort())
        .to.deep.equal([['Carrots', 'apple'], ['Potato', 'orange']]);
      const off = runCli(['classify', '--json', join(dir.path, 'halves.jpg')], { ...env, VEGKIOSK_DETECTION: 'off' });
      expect(off.status, off.stderr).to.equal(0);
      expect(JSON.parse(off.stdout).detections).to.deep.equal([]);
      // A detector as the model runs alone, with its own labels.
      const alone = runCli(['classify', '--json', '--model', detector.onnxPath, join(dir.path, 'halves.jpg')], { VEGKIOSK_DATA_DIR: dir.path });
      expect(alone.status, alone.stderr).to.equal(0);
      expect(JSON.parse(alone.stdout).detections.map((d: { label: string }) => d.label).sort()).to.deep.equal(['apple', 'orange']);
    });

    it('refuses a configured detector that is missing with exit 78 naming the key', () => {
      const r = runCli(['classify', join(dir.path, 'halves.jpg')], {
        VEGKIOSK_MODEL: classifierFiles.onnxPath, VEGKIOSK_DETECTOR: join(dir.path, 'no-such-detector.onnx'), VEGKIOSK_DATA_DIR: dir.path,
      });
      expect(r.status).to.equal(78);
      expect(r.stderr).to.match(/VEGKIOSK_DETECTOR: detector file not found: .*no-such-detector\.onnx/);
      const check = runCli(['check-config'], { VEGKIOSK_DETECTOR: join(dir.path, 'no-such-detector.onnx'), VEGKIOSK_DETECTION: 'off' });
      expect(check.status, 'detection off: the detector is not needed').to.equal(0);
    });

    it('falls back to the classifier alone while the default detector is not installed (serve logs it once)', async function () {
      if (existsSync(DEFAULT_DETECTOR)) this.skip(); // shipped: the default configuration is the cascade
      const r = runCli(['classify', '--json', join(dir.path, 'halves.jpg')], { VEGKIOSK_MODEL: classifierFiles.onnxPath, VEGKIOSK_DATA_DIR: dir.path });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      expect(JSON.parse(r.stdout)).to.have.property('detections').that.deep.equals([]);
      const lines = await serveLogLines({ VEGKIOSK_MODEL: classifierFiles.onnxPath, VEGKIOSK_DATA_DIR: join(dir.path, 'serve') });
      expect(lines.filter((l) => /default detector is not installed/.test(String(l.msg)))).to.have.length(1);
    });
  });
});
