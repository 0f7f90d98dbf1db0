import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { CLI, cleanEnv } from '../../scripts/soak-service.ts';

export { CLI, cleanEnv as cliEnv, freePort, JsonLogLines as LogWatcher } from '../../scripts/soak-service.ts';

export function runCli(args: string[], env: Record<string, string> = {}, timeout = 60_000) {
  return spawnSync(process.execPath, [CLI, ...args], { env: cleanEnv(env), encoding: 'utf8', timeout, maxBuffer: 16 * 1024 * 1024 });
}

export function startCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}
