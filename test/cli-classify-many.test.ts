import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ORT_TELEMETRY_OPT_OUT } from '../device/inference/onnxruntime-telemetry.ts';
import { writeTestClassifier } from '../scripts/onnx/make-test-models.ts';
import { CLI, cliEnv } from './support/cli.ts';

/**
 * onnxruntime's telemetry client parsed /proc/self/cmdline recursively on the inference worker's
 * fixed 4 MB stack: past roughly 15 KB of command line the process died with SIGSEGV (exit 139)
 * before printing anything (device/inference/onnxruntime-telemetry.ts).
 */
describe('vegkiosk classify with many files as arguments (real CLI process)', function () {
  this.timeout(180_000);
  const PHOTOS = 300;
  /** Well past the ~15 KB of command line that crashed, so the test cannot pass by a narrow margin. */
  const MIN_COMMAND_LINE_BYTES = 20_000;
  let dir: string | undefined;
  let classifier: string;
  let files: string[];

  // Registered first: the temporary photos go even when generating them fails half-way.
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vegkiosk-classify-many-'));
    classifier = (await writeTestClassifier(join(dir, 'model'))).onnxPath;
    const photos = join(dir, 'photos');
    mkdirSync(photos);
    const colours = [[220, 30, 30], [30, 200, 40], [30, 30, 220]] as const;
    const encoded = await Promise.all(colours.map(([r, g, b]) =>
      sharp({ create: { width: 64, height: 48, channels: 3, background: { r, g, b } } }).jpeg().toBuffer()));
    // Names as a counter camera writes them; `classify photos/*.jpg` hands the shell's expansion over.
    files = Array.from({ length: PHOTOS }, (_, i) => join(photos, `produce-counter-2024-05-17T09-30-${String(i).padStart(4, '0')}.jpg`));
    files.forEach((file, i) => writeFileSync(file, encoded[i % colours.length]!));
  });

  it(`answers for ${PHOTOS} files given as arguments, one JSON line each, in the order given`, () => {
    const args = [CLI, 'classify', '--json', '--model', classifier, ...files];
    const commandLineBytes = [process.execPath, ...args].reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
    expect(commandLineBytes, 'command line length (the precondition of the crash)').to.be.greaterThan(MIN_COMMAND_LINE_BYTES);

    const env = cliEnv({ [ORT_TELEMETRY_OPT_OUT]: '0' });
    // A CI marker also stops onnxruntime's telemetry, and the crash with it: this run must not depend on
    // where the suite runs. The inherited opt-out is set to 0 for the same reason (vegkiosk must override it).
    for (const ciMarker of ['CI', 'GITHUB_ACTIONS', 'TF_BUILD', 'GITLAB_CI', 'BUILDKITE', 'JENKINS_URL', 'ORT_RUNNING_UNIT_TESTS']) delete env[ciMarker];
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 150_000, maxBuffer: 64 * 1024 * 1024 });

    expect(r.signal, `killed by a signal; stderr: ${r.stderr}`).to.equal(null);
    expect(r.status, `exit status; stderr: ${r.stderr}`).to.equal(0);
    expect(r.stderr).to.equal('');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.file)).to.deep.equal(files);
    expect(new Set(lines.map((l) => l.top[0].label)).size, 'the three colours get three answers').to.equal(3);
    // The telemetry client, had it started, leaves this file behind for every process.
    expect(existsSync(join('/tmp', `mat-debug-${r.pid}.log`)), 'onnxruntime telemetry debug log').to.equal(false);
  });
});
