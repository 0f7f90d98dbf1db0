import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../scripts/soak-service.ts';
import { requirePrograms } from './support/requires.ts';
import { missingPrograms, SYSTEM_PYTHON, type TestProgramId } from './support/test-programs.ts';

// The training recipe's rules are Python unittest suites in models/training/: which photos the classifier
// trains and validates on (held-back classes, sources, folds) and its score calibration (test_samples,
// numpy only), and the ImageNet MobileNetV2 conversion (test_mobilenet_v2: torch, the pretrained file and
// the photos; each case skips itself with the reason when its part is absent), and the int8 quantiser's
// rules (test_quantize_classifier: numpy; its graph case needs python3-onnx). Each suite runs once here
// and each of its cases is reported as a test of its own.
const TRAINING_DIR = join(PACKAGE_ROOT, 'models', 'training');

interface PythonSuite {
  module: string;
  title: string;
  needs: TestProgramId[];
}

const SUITES: PythonSuite[] = [
  { module: 'test_samples', title: 'classifier data rules and calibration', needs: ['python3', 'numpy'] },
  { module: 'test_mobilenet_v2', title: 'ImageNet MobileNetV2 read from TFLite', needs: ['python3', 'numpy', 'torch'] },
  { module: 'test_quantize_classifier', title: 'int8 quantiser rules', needs: ['python3', 'numpy'] },
];

for (const suite of SUITES) {
  // Without the interpreter or its modules there is nothing to run: the suite skips and says what to install.
  const runnable = missingPrograms(suite.needs).length === 0;
  const run = runnable
    ? spawnSync(SYSTEM_PYTHON, ['-m', 'unittest', '-v', suite.module], {
      cwd: TRAINING_DIR,
      encoding: 'utf8',
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      timeout: 300_000,
    })
    : null;
  const output = `${run?.stdout ?? ''}${run?.stderr ?? ''}`;
  // unittest -v: "test_name (module.Class.test_name) ... ok" (or "... skipped 'reason'")
  const pattern = new RegExp(`^(test_\\w+) \\(${suite.module}\\.(\\w+)\\.\\w+\\) \\.\\.\\. (.+)$`, 'gm');
  const results = [...output.matchAll(pattern)].map(([, name, group, outcome]) => ({ name: name!, group: group!, outcome: outcome!.trim() }));

  describe(`training recipe: ${suite.title} (models/training/${suite.module}.py)`, () => {
    before(function () {
      requirePrograms(this, ...suite.needs);
    });

    it('the Python suite runs and passes as a whole', () => {
      expect(run!.error, `could not run ${SYSTEM_PYTHON}: ${run!.error?.message}`).to.equal(undefined);
      expect(run!.status, output).to.equal(0);
      const ran = Number(/^Ran (\d+) tests?/m.exec(output)?.[1] ?? 0);
      expect(ran, output).to.be.greaterThan(0);
      expect(results, 'every test the suite ran is reported here').to.have.length(ran);
    });

    for (const { name, group, outcome } of results) {
      it(`${group}: ${name.slice(5).replaceAll('_', ' ')}`, function () {
        if (outcome.startsWith('skipped')) {
          console.log(`      ${outcome}`);
          this.skip();
        }
        expect(outcome, output).to.equal('ok');
      });
    }
  });
}
