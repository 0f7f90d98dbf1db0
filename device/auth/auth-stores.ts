import type { Logger } from '../logger.ts';
import { AuditLog } from '../store/audit-log.ts';
import { openAuthState, type AuthStateData } from '../store/auth-state-store.ts';
import { RevocationList } from '../store/revocations-store.ts';
import { openUsers, type UsersData } from '../store/users-store.ts';
import type { VersionedStore } from '../store/versioned-store.ts';
import { totpKey } from './key-files.ts';

/** The data files authentication reads and writes, opened once per process (service or CLI). */
export interface AuthStores {
  users: VersionedStore<UsersData>;
  authState: VersionedStore<AuthStateData>;
  revocations: RevocationList;
  audit: AuditLog;
  /** Decrypts/encrypts TOTP secrets at rest. */
  totpKey: Buffer;
}

/** Throws StoreDamagedError when a file and its backup are unusable: the caller must not start. */
export function openAuthStores(dataDir: string, logger?: Logger): AuthStores {
  return {
    users: openUsers(dataDir, logger),
    authState: openAuthState(dataDir, logger),
    revocations: new RevocationList(dataDir, logger),
    audit: new AuditLog(dataDir, logger),
    totpKey: totpKey(dataDir),
  };
}
