import { expect } from 'chai';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  loadModelFiles, manifestPathFor, ModelFileError, parseManifest, sha256Hex,
} from '../device/inference/manifest.ts';
import { makeTempModels, type TempModels } from './fixtures/inference/temp-models.ts';

async function rejection(p: Promise<unknown>): Promise<ModelFileError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ModelFileError);
    return err as ModelFileError;
  }
  throw new Error('expected a ModelFileError');
}

describe('inference manifest', () => {
  let models: TempModels;
  before(async () => { models = await makeTempModels(); });
  after(async () => { await models.cleanup(); });

  it('loads a generated model whose manifest pins its SHA-256', async () => {
    const files = await loadModelFiles(models.classifier.onnxPath);
    expect(files.manifest).to.deep.equal(models.classifier.manifest);
    expect(files.manifestPath).to.equal(models.classifier.manifestPath);
    expect(sha256Hex(files.bytes)).to.equal(files.manifest.sha256);
  });

  it('refuses a model whose SHA-256 differs, naming both hashes and what to do', async () => {
    const path = join(models.dir, 'tampered.onnx');
    const bytes = Buffer.from(models.classifier.bytes);
    bytes[bytes.length - 1] ^= 0xff;
    await writeFile(path, bytes);
    await writeFile(join(models.dir, 'tampered.json'), JSON.stringify(models.classifier.manifest));
    const err = await rejection(loadModelFiles(path));
    expect(err.message).to.include(sha256Hex(bytes)).and.include(models.classifier.manifest.sha256);
    expect(err.message).to.match(/Re-export/).and.match(/update "sha256"/).and.include(path);
    expect(err).to.include({ file: path, field: 'sha256' });
  });

  it('says which file is missing', async () => {
    const err = await rejection(loadModelFiles(join(models.dir, 'nothing-here.onnx')));
    expect(err.message).to.match(/nothing-here\.json: cannot read the model manifest: not found/);
    await writeFile(join(models.dir, 'orphan.json'), JSON.stringify(models.classifier.manifest));
    const err2 = await rejection(loadModelFiles(join(models.dir, 'orphan.onnx')));
    expect(err2.message).to.match(/orphan\.onnx: cannot read the model: not found/);
  });

  it('explains a manifest that is not JSON', async () => {
    await writeFile(join(models.dir, 'broken.json'), '{"name": ');
    await writeFile(join(models.dir, 'broken.onnx'), models.classifier.bytes);
    const err = await rejection(loadModelFiles(join(models.dir, 'broken.onnx')));
    expect(err.message).to.match(/broken\.json: not valid JSON/);
  });

  it('wants a .onnx path', () => {
    expect(() => manifestPathFor('models/veg.bin')).to.throw(ModelFileError, /must end in \.onnx/);
    expect(manifestPathFor('models/veg.onnx')).to.equal('models/veg.json');
  });

  describe('names the bad field', () => {
    const cases: [string, (m: Record<string, any>) => void, string][] = [
      ['name', (m) => { delete m.name; }, 'name'],
      ['version', (m) => { m.version = 3; }, 'version'],
      ['kind', (m) => { m.kind = 'segmenter'; }, 'kind'],
      ['labels empty', (m) => { m.labels = []; }, 'labels'],
      ['labels entry', (m) => { m.labels[1] = ''; }, 'labels[1]'],
      ['labels duplicate', (m) => { m.labels[1] = m.labels[0]; }, 'labels'],
      ['input missing', (m) => { delete m.input; }, 'input'],
      ['input.width', (m) => { m.input.width = 0; }, 'input.width'],
      ['input.height', (m) => { m.input.height = 224.5; }, 'input.height'],
      ['input.layout', (m) => { m.input.layout = 'CHW'; }, 'input.layout'],
      ['input.color', (m) => { m.input.color = 'rgb'; }, 'input.color'],
      ['input.mean', (m) => { m.input.mean = [0.5, 0.5]; }, 'input.mean'],
      ['input.std', (m) => { m.input.std = [0.2, 0, 0.2]; }, 'input.std'],
      ['input.resize', (m) => { m.input.resize = 'crop'; }, 'input.resize'],
      ['output.format', (m) => { m.output.format = 'yolov8'; }, 'output.format'], // a classifier cannot be yolov8
      ['thresholds.score', (m) => { m.thresholds.score = 1.5; }, 'thresholds.score'],
      ['thresholds.iou', (m) => { m.thresholds.iou = '0.5'; }, 'thresholds.iou'],
      ['sha256', (m) => { m.sha256 = 'abc'; }, 'sha256'],
    ];
    for (const [title, mutate, field] of cases) {
      it(title, () => {
        const m = structuredClone(models.classifier.manifest) as Record<string, any>;
        mutate(m);
        let err: unknown;
        try { parseManifest(m, 'models/x.json'); } catch (e) { err = e; }
        expect(err).to.be.instanceOf(ModelFileError);
        const e = err as ModelFileError;
        expect(e.field).to.equal(field);
        expect(e.message).to.include(`models/x.json: field "${field}" must be`);
      });
    }
  });

  it('reports the field through loadModelFiles too, with the manifest path', async () => {
    const m = structuredClone(models.classifier.manifest) as Record<string, any>;
    m.input.mean = 'imagenet';
    await writeFile(join(models.dir, 'badfield.json'), JSON.stringify(m));
    await writeFile(join(models.dir, 'badfield.onnx'), await readFile(models.classifier.onnxPath));
    const err = await rejection(loadModelFiles(join(models.dir, 'badfield.onnx')));
    expect(err.message).to.equal(`${join(models.dir, 'badfield.json')}: field "input.mean" must be an array of 3 numbers (found "imagenet")`);
  });

  it('accepts extra keys a training tool may add', () => {
    const m = { ...models.classifier.manifest, metrics: { top1: 0.9 } };
    expect(parseManifest(m, 'x.json')).to.deep.equal(models.classifier.manifest);
  });
});
