import { loadConfig } from '../config/load-config.ts';
import { parseArgs } from './usage.ts';

/** Validates configuration and nothing else; ConfigError becomes exit 78 in main. */
export async function checkConfigCommand(argv: string[]): Promise<number> {
  parseArgs(argv, {});
  loadConfig();
  process.stdout.write('configuration ok\n');
  return 0;
}
