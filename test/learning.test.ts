import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { WorkerModel } from '../device/inference/worker-model.ts';
import { MAX_EXAMPLES_PER_CLASS } from '../device/learning/class-labels.ts';
import { LearnedClasses } from '../device/learning/learned-classes.ts';
import { LearningError } from '../device/learning/learning-error.ts';
import { writeCosineClassifier } from '../scripts/onnx/make-cosine-classifier.ts';
import { writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { captureLogger, tempDir } from './support/https-fixtures.ts';
import { BLUE, productPhoto, PURPLE } from './support/learning-fixtures.ts';

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<LearningError> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    expect(err).to.be.instanceOf(LearningError);
    return err as LearningError;
  }
  throw new Error('expected a LearningError');
}

describe('learning on the device (real onnxruntime, cosine test classifier)', function () {
  this.timeout(60_000);
  const dir = tempDir('vegkiosk-learning-');
  let model: WorkerModel;
  let dataDir: string;
  let learned: LearnedClasses;
  let n = 0;

  const classify = async (image: Buffer) => {
    const input = await model.prepare(image);
    return model.run(input).finally(() => input.release());
  };

  before(async () => {
    const written = await writeCosineClassifier(join(dir.path, 'model'));
    model = await WorkerModel.load(written.onnxPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir.path, logLevel: 'silent' });
  });
  beforeEach(async () => {
    dataDir = join(dir.path, `data${++n}`);
    learned = await LearnedClasses.open(dataDir, model, { refreshMs: 0 });
    model.extension = learned;
  });
  after(async () => {
    await model?.close();
    dir.remove();
  });

  it('reads the cosine head at load and carries the embedding with each prediction', async () => {
    expect(model.head?.dim).to.equal(3);
    expect(model.head?.weights).to.have.length(4 * 3);
    const p = await classify(await productPhoto(BLUE));
    expect(p.embedding).to.be.instanceOf(Float32Array).with.length(3);
    expect(Math.hypot(...p.embedding!)).to.be.closeTo(1, 1e-5);
  });

  it('learns a new product from five photos: the next prediction names it, marked learned, in one softmax', async () => {
    const before = await classify(await productPhoto(BLUE, 99));
    expect(before.top.map((t) => t.label)).not.to.include('Blueberry');
    const photos = await Promise.all([1, 2, 3, 4, 5].map((s) => productPhoto(BLUE, s)));
    expect(await learned.learn('Blueberry', photos)).to.deep.equal({ label: 'Blueberry', examples: 5 });
    const after = await classify(await productPhoto(BLUE, 99));
    expect(after.label).to.equal('Blueberry');
    expect(after.source).to.equal('learned');
    expect(after.top[0]).to.include({ label: 'Blueberry', source: 'learned' });
    expect(after.top.slice(1).every((t) => t.source === undefined)).to.equal(true);
    const sum = after.top.reduce((s, t) => s + t.score, 0);
    expect(sum).to.be.at.most(1 + 1e-9);
    // A model class still wins on its own photos.
    expect((await classify(await productPhoto([240, 120, 10], 7))).label).to.equal('Carrots');
    expect(learned.list()).to.deep.include({ label: 'Blueberry', source: 'learned', examples: 5 });
  });

  it('treats labels case-insensitively, refines a model class it names, and forgets', async () => {
    await learned.learn('Blueberry', [await productPhoto(BLUE, 1)]);
    expect(await learned.learn('blueberry', [await productPhoto(BLUE, 2)])).to.deep.equal({ label: 'Blueberry', examples: 2 });
    // "potato" refines the model's Potato: listed as a model class with its examples, never as a second class.
    expect(await learned.learn('potato', [await productPhoto(PURPLE, 3)])).to.deep.equal({ label: 'Potato', examples: 1 });
    const list = learned.list();
    expect(list.filter((c) => c.label.toLowerCase() === 'potato')).to.deep.equal([{ label: 'Potato', source: 'model', examples: 1 }]);
    expect(learned.forget('BLUEBERRY')).to.deep.equal({ label: 'Blueberry', examples: 2 });
    expect(learned.forget('Potato')).to.deep.equal({ label: 'Potato', examples: 1 });
    expect((await refusal(() => learned.forget('Potato'))).code).to.equal('model_class');
    expect((await refusal(() => learned.forget('Kale'))).code).to.equal('unknown_class');
    expect((await classify(await productPhoto(BLUE, 9))).top.map((t) => t.label)).not.to.include('Blueberry');
    // The forgotten examples' files are gone.
    expect(readdirSync(join(dataDir, 'learned'))).to.deep.equal([]);
  });

  it('refuses bad labels, a full class, and photos with nothing to learn from, with the reason', async () => {
    for (const bad of ['', ' Kale', 'Kale ', 'x'.repeat(41), 'Kale/Green', 'Käse', '---', 'a\nb']) {
      expect((await refusal(learned.learn(bad, [await productPhoto(BLUE)]))).code, JSON.stringify(bad)).to.equal('bad_label');
    }
    const flat = await sharp({ create: { width: 200, height: 150, channels: 3, background: { r: 0, g: 0, b: 0 } } }).jpeg().toBuffer();
    const flatError = await refusal(learned.learn('Kale', [flat]));
    expect(flatError.code).to.equal('no_usable_crop');
    expect(flatError.message).to.match(/flat colour/);
    const tiny = await productPhoto(BLUE, 1, 20, 20);
    expect((await refusal(learned.learn('Kale', [tiny]))).message).to.match(/too small/);
    expect((await refusal(learned.learn('Kale', [Buffer.from('not an image')]))).message).to.match(/cannot be decoded/);
    // All or nothing: one bad photo among good ones adds none.
    expect((await refusal(learned.learn('Kale', [await productPhoto(BLUE), flat]))).message).to.match(/^photo 2 of 2/);
    expect(learned.list().some((c) => c.label === 'Kale')).to.equal(false);

    const many = await Promise.all(Array.from({ length: MAX_EXAMPLES_PER_CLASS }, (_, i) => productPhoto(BLUE, i + 10)));
    expect(await learned.learn('Kale', many)).to.deep.equal({ label: 'Kale', examples: MAX_EXAMPLES_PER_CLASS });
    const full = await refusal(learned.learn('Kale', [await productPhoto(BLUE, 1)]));
    expect(full.code).to.equal('too_many_examples');
    expect(full.status).to.equal(409);
  });

  it('keeps at most 200 learned classes', async function () {
    this.timeout(180_000);
    const photo = await productPhoto(PURPLE, 4);
    for (let i = 0; i < 200; i++) await learned.learn(`Item ${i}`, [photo]);
    const error = await refusal(learned.learn('Item 200', [photo]));
    expect(error.code).to.equal('too_many_classes');
    // Adding to an existing class is still allowed.
    expect(await learned.learn('item 7', [photo])).to.deep.equal({ label: 'Item 7', examples: 2 });
  });

  it('notices a change another process made to the store, without a restart', async () => {
    const other = await LearnedClasses.open(dataDir, model, { refreshMs: 0 });
    await other.learn('Blueberry', [await productPhoto(BLUE, 1), await productPhoto(BLUE, 2)]);
    expect((await classify(await productPhoto(BLUE, 3))).label).to.equal('Blueberry');
  });

  it('re-embeds the kept crops with a new model (logged) and loses nothing', async () => {
    await learned.learn('Blueberry', [await productPhoto(BLUE, 1), await productPhoto(BLUE, 2)]);
    const upgraded = await writeCosineClassifier(join(dir.path, 'model-v2'), { name: 'cosine-classifier-v2' });
    const next = await WorkerModel.load(upgraded.onnxPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir.path, logLevel: 'silent' });
    try {
      const { logger, lines } = captureLogger('info');
      const reopened = await LearnedClasses.open(dataDir, next, { logger });
      next.extension = reopened;
      expect(lines.join('')).to.match(/re-embedding 2 examples of 1 learned classes with the new model cosine-classifier-v2/);
      const index = JSON.parse(readFileSync(join(dataDir, 'learned-classes.json'), 'utf8'));
      expect(index.data.model).to.equal(upgraded.manifest.sha256.slice(0, 16));
      const input = await next.prepare(await productPhoto(BLUE, 5));
      const p = await next.run(input).finally(() => input.release());
      expect(p.label).to.equal('Blueberry');
    } finally {
      await next.close();
    }
  });

  it('says a model without a cosine head cannot learn, and still classifies', async () => {
    const plain = await writeTestClassifier(join(dir.path, 'plain'));
    const other = await WorkerModel.load(plain.onnxPath, { executionProviders: ['cpu'], threads: 1, dataDir: dir.path, logLevel: 'silent' });
    try {
      expect(other.head).to.equal(null);
      const l = await LearnedClasses.open(join(dir.path, 'plain-data'), other);
      expect(l.supported).to.equal(false);
      const error = await refusal(l.learn('Kale', [await productPhoto(BLUE)]));
      expect(error.code).to.equal('learning_unsupported');
      expect(error.message).to.match(/has no cosine head/);
    } finally {
      await other.close();
    }
  });
});
