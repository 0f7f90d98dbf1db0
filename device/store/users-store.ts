import type { Logger } from '../logger.ts';
import { expectArray, expectRecord, VersionedStore, type StoreSpec } from './versioned-store.ts';

export const ROLES = ['viewer', 'technician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** AES-256-GCM ciphertext of a TOTP secret (base64 fields); see device/auth/secret-box.ts. */
export interface SealedSecret {
  iv: string;
  tag: string;
  data: string;
}

export interface UserRecord {
  /** Random id, new on every enrolment: sessions name it, so removing and re-adding a user kills old sessions. */
  id: string;
  username: string;
  role: Role;
  totp: SealedSecret;
  createdAt: string;
}

export interface UsersData {
  users: UserRecord[];
}

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,31}$/;

export const USERS_SPEC: StoreSpec<UsersData> = {
  file: 'users.json',
  format: 'vegkiosk.users',
  version: 1,
  migrations: {},
  empty: () => ({ users: [] }),
  check(data: unknown): asserts data is UsersData {
    for (const u of expectArray(expectRecord(data, 'users file').users, 'users')) {
      const r = expectRecord(u, 'user');
      if (typeof r.id !== 'string' || typeof r.username !== 'string' || !ROLES.includes(r.role as Role)) {
        throw new Error('user record without id, username or valid role');
      }
      const t = expectRecord(r.totp, 'user totp');
      if (typeof t.iv !== 'string' || typeof t.tag !== 'string' || typeof t.data !== 'string') throw new Error('user without sealed TOTP secret');
    }
  },
};

export function openUsers(dataDir: string, logger?: Logger): VersionedStore<UsersData> {
  return new VersionedStore(dataDir, USERS_SPEC, logger).load();
}

export function findUser(data: UsersData, username: string): UserRecord | undefined {
  return data.users.find((u) => u.username === username);
}
