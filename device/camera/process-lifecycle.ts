import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export interface TerminateOptions {
  /** First signal; gst-launch wants SIGINT to shut the camera down cleanly. */
  signal?: NodeJS.Signals;
  /** How long the process gets to exit before SIGKILL. */
  graceMs?: number;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function exitWithin(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return true;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    await once(child, 'exit', { signal: ac.signal });
    return true;
  } catch {
    return hasExited(child);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops a child and waits until it has been reaped, so no zombie and no camera handle outlives
 * the source. A stopped (SIGSTOP) or wedged process ignores the polite signal; SIGKILL follows.
 */
export async function terminate(child: ChildProcess, options: TerminateOptions = {}): Promise<void> {
  // A spawn that failed (ENOENT) has no pid and never becomes a process.
  if (child.pid === undefined || hasExited(child)) return;
  child.kill(options.signal ?? 'SIGTERM');
  if (await exitWithin(child, options.graceMs ?? 1500)) return;
  child.kill('SIGKILL');
  // SIGKILL cannot be caught; only a process stuck in the kernel (D state) survives this wait.
  await exitWithin(child, 5000);
}
