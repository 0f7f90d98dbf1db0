import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../scripts/soak-service.ts';
import { processesWithEnv, type ProcessEntry } from './support/process-table.ts';
import { requirePrograms } from './support/requires.ts';

const MOCHA = createRequire(import.meta.url).resolve('mocha/bin/mocha.js');
const PROBE = 'KIOSK_TEST_LEAK_PROBE';

interface MochaRun { code: number | null; output: string; probe: string }

/** A separate mocha run of `spec` (no .mocharc), every process it starts marked with a fresh probe id. */
function runMocha(spec: string, requires: string[]): Promise<MochaRun> {
  const probe = randomUUID();
  const args = ['--import', 'tsx', MOCHA, '--no-config', '--no-package', ...requires.flatMap((r) => ['--require', r]),
    '--timeout', '90000', '--exit', '--reporter', 'dot', spec];
  const child = spawn(process.execPath, args, { cwd: PACKAGE_ROOT, env: { ...process.env, [PROBE]: probe }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
  return new Promise((done) => child.once('exit', (code) => done({ code, output, probe })));
}

/** What a run left behind: processes carrying its probe id. Killed, so this test leaves nothing either. */
function leftBehind(run: MochaRun): ProcessEntry[] {
  const left = processesWithEnv(PROBE, run.probe).filter((p) => p.state !== 'Z');
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  return left;
}

describe('no test leaves a process running', function () {
  this.timeout(120_000);

  it('a dashboard suite whose browser fails in `before all` still stops its `vegkiosk serve`', async function () {
    requirePrograms(this, 'chromium');
    const run = await runMocha('test/dashboard-live.test.ts', [join('test/fixtures/leaks/browser-launch-fails.ts')]);
    const left = leftBehind(run);
    expect(run.output, 'the fixture made the before hook fail').to.include('forced by the fixture: Chromium failed to start');
    expect(run.code).to.not.equal(0);
    expect(left.map((p) => `pid ${p.pid}: ${p.cmdline}`), 'processes left running after the run').to.deep.equal([]);
  });

  it('the leak check lists what a suite left running, kills it and fails the run', async () => {
    const run = await runMocha('test/fixtures/leaks/leaves-a-process.fixture.ts', ['test/support/leak-check.ts']);
    const left = leftBehind(run);
    expect(run.code, run.output).to.not.equal(0);
    expect(run.output).to.match(/processes left running by the tests \(killed now[^\n]*\n\s+pid \d+: sleep 300/);
    expect(left, 'the leak check killed it').to.deep.equal([]);
  });
});
