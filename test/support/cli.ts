import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { PACKAGE_ROOT } from '../../device/config/load-config.ts';

export const CLI = resolve(PACKAGE_ROOT, 'bin/vegkiosk.js');

/** The caller's environment without any VEGKIOSK_* setting, plus the given ones. */
export function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VEGKIOSK_')));
  return { ...clean, ...env };
}

export function runCli(args: string[], env: Record<string, string> = {}, timeout = 60_000) {
  return spawnSync(process.execPath, [CLI, ...args], { env: cliEnv(env), encoding: 'utf8', timeout, maxBuffer: 16 * 1024 * 1024 });
}

export function startCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A port that was free a moment ago on 127.0.0.1 (the config does not accept 0). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** Parsed pino lines from a child's stdout, and a way to wait for one. */
export class LogWatcher {
  readonly lines: Record<string, unknown>[] = [];
  private waiters: { test: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  raw = '';

  constructor(child: ChildProcess) {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.raw += chunk;
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text);
        } catch {
          continue;
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.test(line) ? (w.resolve(line), false) : true));
      }
    });
  }

  waitFor(test: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const found = this.lines.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
}
