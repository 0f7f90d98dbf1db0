import { readdirSync, readFileSync } from 'node:fs';

/** One process as /proc shows it. */
export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** Kernel state letter: R, S, D, Z (zombie: exited, not yet reaped) … */
  state: string;
  /** argv joined with spaces, or `[comm]` when it has none (kernel threads, zombies). */
  cmdline: string;
}

function readEntry(pid: number): ProcessEntry | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (in parentheses) may itself hold spaces and parentheses: the fields follow the last ')'.
    const close = stat.lastIndexOf(')');
    const [state, ppid] = stat.slice(close + 2).split(' ');
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const cmdline = argv.length ? argv.join(' ') : `[${stat.slice(stat.indexOf('(') + 1, close)}]`;
    return { pid, ppid: Number(ppid), state: state!, cmdline };
  } catch {
    return null; // It ended while we looked.
  }
}

export function listProcesses(): ProcessEntry[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).flatMap((e) => readEntry(Number(e)) ?? []);
}

/** Every process below `pid` (children, their children …), from the ppid chains. */
export function descendantsOf(pid: number, table = listProcesses()): ProcessEntry[] {
  const below: ProcessEntry[] = [];
  let parents = new Set([pid]);
  while (parents.size) {
    const next = table.filter((p) => parents.has(p.ppid));
    below.push(...next);
    parents = new Set(next.map((p) => p.pid));
  }
  return below;
}

/**
 * Processes whose environment holds `name=value`. A process keeps the environment it was started with
 * even after its parent died and it was handed to init, so this finds what a killed service left behind,
 * which the ppid chains no longer lead to. Processes of other users cannot be read and are not listed.
 */
export function processesWithEnv(name: string, value: string, table = listProcesses()): ProcessEntry[] {
  const needle = `${name}=${value}`;
  return table.filter((p) => {
    try {
      return readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0').includes(needle);
    } catch {
      return false;
    }
  });
}
