import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every file git tracks (or would track: untracked but not ignored) under `dir`, with its text, for
 * the CI source checks. `skip` leaves out binary and generated files by path.
 */
export function* trackedTextFiles(dir: string, skip: RegExp = /$^/): Generator<{ file: string; text: string }> {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: dir, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && !skip.test(f));
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(dir, file), 'utf8');
    } catch {
      continue; // listed but deleted in the working tree
    }
    yield { file, text };
  }
}
