import { openAuthStores } from '../auth/auth-stores.ts';
import { UserAdmin } from '../auth/user-admin.ts';
import { restoreDataDirOwnership } from '../store/data-dir-owner.ts';
import type { UserCliOptions } from './enroll.ts';

/** `vegkiosk users list`: one line per user (name, role, created), no secrets. Returns the exit code. */
export async function usersList(options: UserCliOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const stores = openAuthStores(options.dataDir);
  const users = new UserAdmin(stores.users, stores.audit, stores.totpKey).list();
  if (users.length === 0) {
    out.write('no users; create one with: vegkiosk enroll <user> --role admin\n');
    return 0;
  }
  const width = Math.max(8, ...users.map((u) => u.username.length));
  out.write(`${'USER'.padEnd(width)}  ${'ROLE'.padEnd(10)}  CREATED\n`);
  for (const u of users) out.write(`${u.username.padEnd(width)}  ${u.role.padEnd(10)}  ${u.createdAt}\n`);
  return 0;
}

/**
 * `vegkiosk users remove <user>`: removes the user; the running service refuses their sessions and
 * closes their WebSockets (4401) within a second. Throws (exit 1) when there is no such user.
 */
export async function usersRemove(user: string, options: UserCliOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const stores = openAuthStores(options.dataDir);
  try {
    new UserAdmin(stores.users, stores.audit, stores.totpKey).remove(user, 'console');
  } finally {
    restoreDataDirOwnership(options.dataDir);
  }
  out.write(`removed "${user}"; their sessions end at once\n`);
  return 0;
}
