import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadModel } from '../device/inference/onnx-model.ts';
import { writeBenchClassifier, writeTestClassifier, writeTestDetector } from '../scripts/onnx/make-test-models.ts';
import { runCli } from './support/cli.ts';

describe('vegkiosk classify, bench and doctor (real CLI processes)', function () {
  this.timeout(120_000);
  let dir: string;
  let classifier: string;
  let photos: string;
  const colours = { 'red.jpg': [220, 30, 30], 'green.png': [30, 200, 40], 'sub/blue.webp': [30, 30, 220] } as const;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-cli-'));
    classifier = (await writeTestClassifier(join(dir, 'model'))).onnxPath;
    photos = join(dir, 'photos');
    mkdirSync(join(photos, 'sub'), { recursive: true });
    for (const [name, [r, g, b]] of Object.entries(colours)) {
      const img = sharp({ create: { width: 200, height: 150, channels: 3, background: { r, g, b } } });
      const bytes = name.endsWith('.png') ? await img.png().toBuffer() : name.endsWith('.webp') ? await img.webp().toBuffer() : await img.jpeg().toBuffer();
      writeFileSync(join(photos, name), bytes);
    }
    writeFileSync(join(photos, 'broken.jpg'), 'this is not a photo');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('classify --json prints one object per photo with the model\'s answer, reports a bad file and exits 1', async () => {
    const r = runCli(['classify', photos, '--model', classifier, '--json']);
    expect(r.status).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/broken\.jpg: .*decode/i);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.file.slice(photos.length + 1))).to.deep.equal(['green.png', 'red.jpg', 'sub/blue.webp']);
    // The same photos through the library directly, in this process: the CLI must agree.
    const model = await loadModel(classifier, { executionProviders: ['cpu'], threads: 1, dataDir: dir });
    try {
      for (const line of lines) {
        expect(Object.keys(line)).to.include.members(['file', 'label', 'score', 'top', 'detections', 'ms', 'ep']);
        const input = await model.prepare(await sharp(line.file).toBuffer());
        const expected = await model.run(input);
        expect(line.label).to.equal(expected.label);
        expect(line.top).to.deep.equal(expected.top);
        expect(line.ep).to.equal('cpu');
      }
    } finally {
      await model.close();
    }
    expect(new Set(lines.map((l) => l.top[0].label)).size).to.equal(3);
  });

  it('classify --model <a detector> runs that detector alone: its own labels, boxes in detections', async () => {
    const detector = (await writeTestDetector(join(dir, 'detector'))).onnxPath;
    const r = runCli(['classify', join(photos, 'red.jpg'), '--model', detector, '--json']);
    expect(r.status, r.stderr).to.equal(0);
    const line = JSON.parse(r.stdout);
    // The test detector's fixed anchors over its 0.5 threshold: Carrots 0.9 (its 0.8 twin suppressed),
    // Tomato 0.7 at the same place (NMS is per class), Carrots 0.6 off the right edge.
    expect(line.detections.map((d: { label: string; score: number }) => [d.label, Math.round(d.score * 100) / 100]))
      .to.deep.equal([['Carrots', 0.9], ['Tomato', 0.7], ['Carrots', 0.6]]);
    expect(line.label).to.equal('Carrots');
    for (const d of line.detections) {
      expect(d.box).to.have.length(4);
      for (const v of d.box) expect(v).to.be.within(0, 1);
    }
  });

  it('classify --min-score replaces the manifest\'s score threshold for this run only', async () => {
    const detector = (await writeTestDetector(join(dir, 'detector-min-score'))).onnxPath;
    const manifestBefore = readFileSync(detector.replace(/\.onnx$/, '.json'), 'utf8');
    const labelsAt = (score: string) => {
      const r = runCli(['classify', join(photos, 'red.jpg'), '--model', detector, '--json', '--min-score', score]);
      expect(r.status, r.stderr).to.equal(0);
      return JSON.parse(r.stdout).detections.map((d: { label: string; score: number }) => `${d.label} ${d.score.toFixed(1)}`);
    };
    // 0.25 lets through the anchor the manifest's 0.5 hides (Tomato 0.3); 0.95 hides everything.
    expect(labelsAt('0.25')).to.deep.equal(['Carrots 0.9', 'Tomato 0.7', 'Carrots 0.6', 'Tomato 0.3']);
    expect(labelsAt('0.95')).to.deep.equal([]);
    const r = runCli(['classify', join(photos, 'red.jpg'), '--model', detector, '--json', '--min-score', '0.95']);
    expect(JSON.parse(r.stdout).label).to.equal(null);
    expect(readFileSync(detector.replace(/\.onnx$/, '.json'), 'utf8'), 'the manifest file is not rewritten').to.equal(manifestBefore);
  });

  it('classify --min-score outside 0..1 is a usage error (exit 2)', () => {
    for (const bad of ['1.5', '-0.1', 'high', '']) {
      const r = runCli(['classify', join(photos, 'red.jpg'), '--model', classifier, `--min-score=${bad}`]);
      expect(r.status, bad).to.equal(2);
      expect(r.stderr).to.match(/--min-score must be a number from 0 to 1/);
    }
  });

  it('classify without photos is a usage error (exit 2)', () => {
    const r = runCli(['classify', '--model', classifier]);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/at least one image/);
  });

  it('bench --json reports every stage measured in one run and the ratio derived from them', async () => {
    const bench = (await writeBenchClassifier(join(dir, 'bench'), { size: 96 })).onnxPath;
    const r = runCli(['bench', '--model', bench, '--frames', '20', '--json']);
    expect(r.stderr).to.equal('');
    expect(r.status).to.equal(0);
    const report = JSON.parse(r.stdout);
    for (const key of ['bareFps', 'preprocessFps', 'serialFps', 'pipelineFps', 'ratio', 'p50Ms', 'p99Ms', 'rssMb']) {
      expect(report[key], key).to.be.a('number').and.greaterThan(0);
    }
    expect(report.ep).to.equal('cpu');
    expect(report.frames).to.equal(20);
    expect([report.frameWidth, report.frameHeight]).to.deep.equal([1280, 720]);
    const expectedRatio = report.pipelineFps / Math.min(report.bareFps, report.preprocessFps);
    expect(report.ratio).to.be.closeTo(expectedRatio, 0.02);
    expect(report.p99Ms).to.be.at.least(report.p50Ms);
  });

  it('doctor explains the board, the providers and which one the model runs on', () => {
    const r = runCli(['doctor'], { VEGKIOSK_MODEL: classifier });
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/^board: /m);
    expect(r.stdout).to.match(/^ {2}cpu +usable/m);
    expect(r.stdout).to.match(/^ {2}cuda +not usable .*libonnxruntime_providers_cuda\.so/m);
    expect(r.stdout).to.match(/runs on: cpu/);
    expect(r.stdout).to.match(/SHA-256 verified/);
  });

  it('doctor --root explains a Jetson laid out as L4T shows it, with how to get the GPU providers', () => {
    const root = join(dir, 'jetson-root');
    const files: Record<string, string> = {
      'proc/device-tree/model': 'NVIDIA Jetson Orin Nano Developer Kit\0',
      'etc/nv_tegra_release': '# R36 (release), REVISION: 3.0, GCID: 36923193, BOARD: generic, EABI: aarch64, DATE: Fri Jul 19 23:24:25 UTC 2024\n',
      'dev/nvmap': '',
      'dev/video0': '',
      'sys/class/thermal/thermal_zone0/type': 'cpu-thermal\n',
      'sys/class/thermal/thermal_zone0/temp': '47250\n',
    };
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), content);
    }
    const r = runCli(['doctor', '--root', root], { VEGKIOSK_MODEL: classifier });
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/^board: NVIDIA Jetson Orin Nano Developer Kit \(jetson\)/m);
    expect(r.stdout).to.include('cpu-thermal 47.3 °C');
    expect(r.stdout).to.include(`${root}/dev/video0`);
    expect(r.stdout).to.match(/CSI camera stack: jetson/);
    expect(r.stdout).to.match(/--build_nodejs --use_cuda --use_tensorrt/);
  });

  it('doctor still reports the machine when the configuration is bad, and exits 78', () => {
    const r = runCli(['doctor'], { VEGKIOSK_MODEL: classifier, VEGKIOSK_PORT: 'x' });
    expect(r.status).to.equal(78);
    expect(r.stdout).to.match(/VEGKIOSK_PORT: must be an integer/);
    expect(r.stdout).to.match(/^execution providers/m);
  });
});
