/**
 * The first step of `npm test`: makes the README's two commands (`npm ci && npm test`) enough on a
 * fresh Debian machine. When programs the tests drive are missing and this user may install packages
 * without a password (root, or passwordless sudo), it runs scripts/install-test-deps.sh, saying so in
 * one line; otherwise it says in one line which are missing, and the tests that need them skip (each
 * with its own line, test/support/requires.ts). When everything is here it prints nothing and takes
 * well under a second, so `.ci/run`, which installs them first, pays nothing for it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  installCommand, missingPrograms, TEST_PROGRAMS, type TestProgramId,
} from '../test/support/test-programs.ts';

const PACKAGE_ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const INSTALLER = join(PACKAGE_ROOT, 'scripts/install-test-deps.sh');

export type TestDepsPlan =
  | { action: 'nothing' }
  | { action: 'install'; missing: TestProgramId[]; command: string[] }
  | { action: 'skip'; missing: TestProgramId[]; why: string };

export interface Machine {
  uid: number;
  /** `sudo -n true` succeeds: sudo without a password prompt. */
  passwordlessSudo: () => boolean;
  /** apt-get is here: install-test-deps.sh is written for Debian and its derivatives. */
  hasApt: boolean;
}

/** What to do about the missing programs (missing ones the installer may lack do not start it alone). */
export function planTestDeps(missing: TestProgramId[], machine: Machine): TestDepsPlan {
  if (!missing.some((id) => !TEST_PROGRAMS[id].installerMayLackIt)) {
    return missing.length ? { action: 'skip', missing, why: 'the installer cannot always provide them' } : { action: 'nothing' };
  }
  if (!machine.hasApt) return { action: 'skip', missing, why: 'scripts/install-test-deps.sh needs apt-get (Debian)' };
  if (machine.uid === 0) return { action: 'install', missing, command: ['bash', INSTALLER] };
  if (machine.passwordlessSudo()) return { action: 'install', missing, command: ['sudo', '-n', 'bash', INSTALLER] };
  return { action: 'skip', missing, why: `installing needs root; install with: ${installCommand(machine.uid)}` };
}

const names = (ids: TestProgramId[]) => ids.map((id) => TEST_PROGRAMS[id].name).join(', ');

function main(): void {
  const all = Object.keys(TEST_PROGRAMS) as TestProgramId[];
  const plan = planTestDeps(missingPrograms(all), {
    uid: process.getuid?.() ?? -1,
    passwordlessSudo: () => spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', timeout: 10_000 }).status === 0,
    hasApt: existsSync('/usr/bin/apt-get'),
  });
  if (plan.action === 'nothing') return;
  if (plan.action === 'skip') {
    console.log(`npm test: not installed: ${names(plan.missing)}; the tests that need them are skipped (${plan.why})`);
    return;
  }
  console.log(`npm test: installing the programs the tests drive (missing: ${names(plan.missing)}) with ${plan.command.join(' ')}`);
  const run = spawnSync(plan.command[0]!, plan.command.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const still = missingPrograms(all);
  if (run.status !== 0) {
    console.log(`npm test: scripts/install-test-deps.sh failed (${run.error?.message ?? `exit ${run.status}`}); the tests that need ${names(still)} are skipped`);
  } else if (still.length) {
    console.log(`npm test: still not installed: ${names(still)}; the tests that need them are skipped`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
