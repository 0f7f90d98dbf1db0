import { randomUUID } from 'node:crypto';
import { descendantsOf, listProcesses, processesWithEnv, type ProcessEntry } from './process-table.ts';

/**
 * Mocha root hook plugin (.mocharc.json `require`): after the last suite, no process the tests started
 * may still run. Every spawned service, ffmpeg, fswebcam and Chromium must be stopped by its own suite
 * in every outcome; what is left is listed (pid and command line), killed so nothing outlives the
 * run, and fails the run. A `vegkiosk serve` once stayed up for 15 minutes after a failed `before all`
 * hook, holding its port.
 *
 * Left-overs are found two ways: the mocha process's descendants, and any process started with this
 * run's marker in its environment (every child inherits it), which also finds what was orphaned when
 * its parent was killed.
 */
// Not VEGKIOSK_*: the test helpers start services with the caller's environment minus those (cleanEnv).
export const RUN_MARKER = 'KIOSK_TEST_RUN_ID';
const runId = `${process.pid}-${randomUUID()}`;
process.env[RUN_MARKER] = runId;

/** tsx's esbuild service belongs to the test harness itself; it ends when its parent does. */
const isHarness = (p: ProcessEntry) => /\/esbuild(\s|$)/.test(p.cmdline.split(' --')[0]!) && p.cmdline.includes('--service=');

/** Processes this run started that are still running (zombies are dead, merely unreaped). */
export function leftoverProcesses(): ProcessEntry[] {
  const table = listProcesses();
  const found = new Map<number, ProcessEntry>();
  for (const p of [...descendantsOf(process.pid, table), ...processesWithEnv(RUN_MARKER, runId, table)]) {
    if (p.pid !== process.pid && p.state !== 'Z' && !isHarness(p)) found.set(p.pid, p);
  }
  return [...found.values()];
}

async function settle(ms: number): Promise<ProcessEntry[]> {
  // A process stopped in an after hook may take a moment to be gone from /proc.
  const deadline = Date.now() + ms;
  let left = leftoverProcesses();
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = leftoverProcesses();
  }
  return left;
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(15_000);
    const left = await settle(3_000);
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
    }
    const list = left.map((p) => `pid ${p.pid}: ${p.cmdline.slice(0, 300)}`).join('\n  ');
    throw new Error(`processes left running by the tests (killed now; stop them in the suite's after hook):\n  ${list}`);
  },
};
