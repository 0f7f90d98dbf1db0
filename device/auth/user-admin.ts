import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../store/audit-log.ts';
import { findUser, ROLES, USERNAME_PATTERN, type Role, type UsersData } from '../store/users-store.ts';
import type { VersionedStore } from '../store/versioned-store.ts';
import { seal } from './secret-box.ts';
import { newTotpSecret, otpauthUri } from './totp.ts';

export interface PublicUser {
  username: string;
  role: Role;
  createdAt: string;
}

export class UserAdminError extends Error {
  constructor(readonly code: 'invalid' | 'exists' | 'not_found' | 'last_admin', message: string) {
    super(message);
    this.name = 'UserAdminError';
  }
}

/**
 * Enrolment and removal, shared by the API (/api/users) and the device console (`vegkiosk enroll`,
 * `users remove`): both write the same users.json under its lock, and the running service re-reads
 * it before every auth decision, so a change takes effect at once.
 */
export class UserAdmin {
  constructor(
    private readonly users: VersionedStore<UsersData>,
    private readonly audit: AuditLog,
    private readonly totpKey: Buffer,
  ) {}

  list(): PublicUser[] {
    this.users.refresh();
    return this.users.data.users.map(({ username, role, createdAt }) => ({ username, role, createdAt }));
  }

  /** Creates the user; the otpauth URI (holding the secret) is returned this once and never stored in clear. */
  enroll(username: string, role: Role, actor: string): { user: PublicUser; otpauthUri: string } {
    if (!USERNAME_PATTERN.test(username)) {
      throw new UserAdminError('invalid', 'username must be 1-32 characters: lower-case letters, digits, ".", "_" or "-"');
    }
    if (!ROLES.includes(role)) throw new UserAdminError('invalid', `role must be one of ${ROLES.join(', ')}`);
    const secret = newTotpSecret();
    const id = randomUUID();
    const createdAt = new Date().toISOString();
    this.users.update((d) => {
      if (findUser(d, username)) throw new UserAdminError('exists', `user ${username} already exists`);
      d.users.push({ id, username, role, totp: seal(this.totpKey, secret, id), createdAt });
    });
    this.audit.record({ event: 'user_added', actor, user: username, detail: `role ${role}` });
    return { user: { username, role, createdAt }, otpauthUri: otpauthUri(username, secret) };
  }

  /** Removes the user; every session of theirs stops verifying (sessions are bound to the user id). */
  remove(username: string, actor: string): void {
    this.users.update((d) => {
      const user = findUser(d, username);
      if (!user) throw new UserAdminError('not_found', `no user ${username}`);
      if (user.role === 'admin' && d.users.filter((u) => u.role === 'admin').length === 1 && actor !== 'console') {
        // From the API this would lock every admin out; the device console can still do it deliberately.
        throw new UserAdminError('last_admin', 'cannot remove the last admin');
      }
      d.users = d.users.filter((u) => u.username !== username);
    });
    this.audit.record({ event: 'user_removed', actor, user: username });
  }
}
