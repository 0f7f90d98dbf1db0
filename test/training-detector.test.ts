import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../scripts/soak-service.ts';
import { requirePrograms } from './support/requires.ts';
import { missingPrograms, SYSTEM_PYTHON } from './support/test-programs.ts';

// The detector recipe (models/training/detector/) is Python: the YOLOX-Nano rebuild against the
// pretrained ONNX file (torch, onnx, onnxruntime-node through node), the data rules (numpy only) and the
// loss and export. Its unittest suite runs once here and each case is reported as a test of its own;
// a case the suite itself skips (torch or ../shared/pretrained absent) is reported pending with its reason.
const TRAINING_DIR = join(PACKAGE_ROOT, 'models', 'training');
const runnable = missingPrograms(['python3', 'numpy']).length === 0;
const run = runnable
  ? spawnSync(SYSTEM_PYTHON, ['-m', 'unittest', 'discover', '-v', '-s', 'detector', '-t', '.', '-p', 'test_*.py'], {
    cwd: TRAINING_DIR,
    encoding: 'utf8',
    // Warnings on stderr would split unittest's "name ... ok" lines that are parsed below.
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONWARNINGS: 'ignore' },
    timeout: 300_000,
  })
  : null;
const output = `${run?.stdout ?? ''}${run?.stderr ?? ''}`;
// unittest -v: "test_name (detector.test_module.Class.test_name) ... ok" (or "skipped 'why'")
const results = [...output.matchAll(/^(test_\w+) \(detector\.(\w+)\.(\w+)\.\w+\) \.\.\. (.+)$/gm)]
  .map(([, name, module, group, outcome]) => ({ name: name!, module: module!, group: group!, outcome: outcome!.trim() }));

describe('detector recipe (models/training/detector/test_*.py)', function () {
  this.timeout(300_000);
  before(function () {
    requirePrograms(this, 'python3', 'numpy');
  });

  it('the Python suite runs and passes as a whole', () => {
    expect(run!.error, `could not run ${SYSTEM_PYTHON}: ${run!.error?.message}`).to.equal(undefined);
    expect(run!.status, output).to.equal(0);
    const ran = Number(/^Ran (\d+) tests?/m.exec(output)?.[1] ?? 0);
    expect(ran, output).to.be.greaterThan(0);
    expect(results, 'every test the suite ran is reported here').to.have.length(ran);
  });

  for (const { name, module, group, outcome } of results) {
    it(`${module} ${group}: ${name.slice(5).replaceAll('_', ' ')}`, function () {
      const skipped = /^skipped '(.*)'$/s.exec(outcome);
      if (skipped) {
        console.log(`      skipped: ${skipped[1]}`);
        this.skip();
      }
      expect(outcome, output).to.equal('ok');
    });
  }
});
