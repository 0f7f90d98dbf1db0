import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../scripts/soak-service.ts';
import { requirePrograms } from './support/requires.ts';
import { missingPrograms, SYSTEM_PYTHON } from './support/test-programs.ts';

// The training recipe's data rules (models/training/pools.py: which photos each stage sees, sampling
// weights, cross-validation folds) are Python; their unittest suite needs only numpy (Debian's
// python3-numpy, installed by scripts/install-test-deps.sh), not torch or the photos. It runs once
// here and each of its tests is reported as a test of its own.
const TRAINING_DIR = join(PACKAGE_ROOT, 'models', 'training');
// Without Python or numpy there is nothing to run: the suite below skips and says what to install.
const runnable = missingPrograms(['python3', 'numpy']).length === 0;
const run = runnable
  ? spawnSync(SYSTEM_PYTHON, ['-m', 'unittest', '-v', 'test_pools'], {
    cwd: TRAINING_DIR,
    encoding: 'utf8',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    timeout: 60_000,
  })
  : null;
const output = `${run?.stdout ?? ''}${run?.stderr ?? ''}`;
// unittest -v: "test_name (test_pools.Class.test_name) ... ok"
const results = [...output.matchAll(/^(test_\w+) \(test_pools\.(\w+)\.\w+\) \.\.\. (.+)$/gm)]
  .map(([, name, group, outcome]) => ({ name: name!, group: group!, outcome: outcome!.trim() }));

describe('training recipe data rules (models/training/test_pools.py)', () => {
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

  for (const { name, group, outcome } of results) {
    it(`${group}: ${name.slice(5).replaceAll('_', ' ')}`, () => {
      expect(outcome, output).to.equal('ok');
    });
  }
});
