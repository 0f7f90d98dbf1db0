import qrcode from 'qrcode-terminal';
import { openAuthStores } from '../auth/auth-stores.ts';
import { UserAdmin, UserAdminError } from '../auth/user-admin.ts';
import { restoreDataDirOwnership } from '../store/data-dir-owner.ts';
import { ROLES, type Role } from '../store/users-store.ts';
import { UsageError } from './usage.ts';

export interface UserCliOptions {
  /** Config.dataDir of the service whose users are managed. */
  dataDir: string;
  /** Where the URI, QR code and messages go (default stdout). */
  out?: NodeJS.WritableStream;
}

/**
 * `vegkiosk enroll <user> [--role …]`: creates the user in the data directory the service reads
 * (a running service picks it up at once) and prints the otpauth URI and a terminal QR code. This
 * is the only time the secret is shown; it is stored encrypted. Returns the exit code; throws
 * UsageError (exit 2) for a bad name or role, Error (exit 1) when the user exists.
 */
export async function enroll(user: string, role: string = 'viewer', options: UserCliOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  if (!ROLES.includes(role as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(role)})`);
  const stores = openAuthStores(options.dataDir);
  let uri: string;
  try {
    uri = new UserAdmin(stores.users, stores.audit, stores.totpKey).enroll(user, role as Role, 'console').otpauthUri;
  } catch (err) {
    if (err instanceof UserAdminError && err.code === 'invalid') throw new UsageError(err.message);
    throw err;
  } finally {
    restoreDataDirOwnership(options.dataDir);
  }
  const qr = await new Promise<string>((resolve) => qrcode.generate(uri, { small: true }, resolve));
  out.write(`Created ${role} "${user}". Scan this code with an authenticator app (shown only now):\n\n${qr}\n`);
  out.write(`or enter this URI by hand:\n${uri}\n\nThen sign in on the dashboard with "${user}" and the 6-digit code.\n`);
  return 0;
}
