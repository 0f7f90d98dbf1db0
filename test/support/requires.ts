import { installCommand, missingPrograms, TEST_PROGRAMS, type TestProgramId } from './test-programs.ts';

/**
 * Skips the current test, or the whole suite when called from a `before` hook, when a program it
 * drives is missing, with one line naming the program and the command that installs it. Mocha counts
 * the skipped tests, so a run without the program still says what it did not check.
 *
 *   before(function () { requirePrograms(this, 'chromium'); });
 *   it('…', async function () { requirePrograms(this, 'ffmpeg'); … });
 *
 * In a `before` hook, call it before anything is started: mocha runs no further hooks of a skipped suite.
 */
export function requirePrograms(ctx: Mocha.Context, ...ids: TestProgramId[]): void {
  const missing = missingPrograms(ids);
  if (missing.length === 0) return;
  const names = missing.map((id) => TEST_PROGRAMS[id].name).join(', ');
  console.log(`      skipped: ${names} not found — install with: ${installCommand()}`);
  ctx.skip();
}
