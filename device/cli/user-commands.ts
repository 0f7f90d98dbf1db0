import { loadConfig } from '../config/load-config.ts';
import { enroll } from './enroll.ts';
import { usersList, usersRemove } from './users.ts';
import { parseArgs, stringFlag, UsageError } from './usage.ts';

/** `vegkiosk enroll <user> [--role admin|technician|viewer]` */
export async function enrollCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { role: 'value' });
  if (args.positional.length !== 1) throw new UsageError('enroll needs exactly one user name');
  const { dataDir } = loadConfig({ needsModel: false });
  return enroll(args.positional[0], stringFlag(args, 'role') ?? 'viewer', { dataDir });
}

/** `vegkiosk users list` | `vegkiosk users remove <user>` */
export async function usersCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, {});
  const [action, ...rest] = args.positional;
  const { dataDir } = loadConfig({ needsModel: false });
  if (action === 'list' && rest.length === 0) return usersList({ dataDir });
  if (action === 'remove' && rest.length === 1) return usersRemove(rest[0], { dataDir });
  throw new UsageError('usage: vegkiosk users list | vegkiosk users remove <user>');
}
