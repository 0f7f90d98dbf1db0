import { linkSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';

const STALE_MS = 10_000;
const WAIT_MS = 3_000;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Cross-process mutual exclusion for one data file: the service and a `vegkiosk enroll` on the
 * console may both change users.json, and each read-modify-write must see the other's result.
 * Held for a few milliseconds only (the writes are small), so waiting synchronously is acceptable.
 * A lock left by a killed process is taken over once its pid is gone or it is older than 10 s.
 * The lock appears with its pid already inside (written to a private file, then hard-linked into
 * place), so a kill -9 can never leave an empty lock that blocks the next start for 10 s.
 */
export function withFileLock<R>(path: string, fn: () => R): R {
  const lockPath = `${path}.lock`;
  const mine = `${lockPath}.${process.pid}`;
  const deadline = Date.now() + WAIT_MS;
  try {
    writeFileSync(mine, String(process.pid), { mode: 0o600 });
  } catch (err) {
    // A full disk fails here first; leave no empty file behind.
    rmSync(mine, { force: true });
    throw err;
  }
  for (;;) {
    try {
      linkSync(mine, lockPath);
      rmSync(mine, { force: true });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        rmSync(mine, { force: true });
        throw err;
      }
      if (isStale(lockPath)) {
        rmSync(lockPath, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        rmSync(mine, { force: true });
        throw new Error(`${path} is locked by another vegkiosk process (${lockPath})`);
      }
      Atomics.wait(sleeper, 0, 0, 10);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lockPath, { force: true });
  }
}

function isStale(lockPath: string): boolean {
  try {
    if (Date.now() - statSync(lockPath).mtimeMs > STALE_MS) return true;
    const pid = Number(readFileSync(lockPath, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return false; // being written right now
    if (pid === process.pid) return false;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ESRCH' || code === 'ENOENT';
  }
}
