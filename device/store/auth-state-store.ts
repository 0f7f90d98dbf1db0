import type { Logger } from '../logger.ts';
import { expectRecord, VersionedStore, type StoreSpec } from './versioned-store.ts';

/** Failed-login bookkeeping for one username (known or not, so lockout never reveals which exist). */
export interface LoginFailures {
  /** Consecutive failures since the last success. */
  failures: number;
  /** ms since the epoch; 0 when not locked. */
  lockedUntil: number;
  lastAttemptAt: number;
}

export interface AuthStateData {
  /** Keyed by the username tried. */
  logins: Record<string, LoginFailures>;
  /** Last accepted TOTP time step per user id: a code is accepted once, also across restarts. */
  lastStep: Record<string, number>;
}

/** Bounded: an attacker trying random usernames must not grow the file without limit. */
export const AUTH_STATE_MAX_LOGINS = 1000;

export const AUTH_STATE_SPEC: StoreSpec<AuthStateData> = {
  file: 'auth-state.json',
  format: 'vegkiosk.auth-state',
  version: 1,
  migrations: {},
  empty: () => ({ logins: {}, lastStep: {} }),
  check(data: unknown): asserts data is AuthStateData {
    const d = expectRecord(data, 'auth state file');
    expectRecord(d.logins, 'logins');
    expectRecord(d.lastStep, 'lastStep');
  },
};

export function openAuthState(dataDir: string, logger?: Logger): VersionedStore<AuthStateData> {
  return new VersionedStore(dataDir, AUTH_STATE_SPEC, logger).load();
}

/**
 * The failure record of a username, own properties only: a name such as "constructor" must not find
 * Object's members through the prototype.
 */
export function failuresOf(data: AuthStateData, username: string): LoginFailures | undefined {
  return Object.hasOwn(data.logins, username) ? data.logins[username] : undefined;
}

/** Drops the oldest unlocked entries past the cap (locked ones stay until their lock runs out). */
export function pruneLogins(data: AuthStateData, now: number, max = AUTH_STATE_MAX_LOGINS): void {
  const names = Object.keys(data.logins);
  if (names.length <= max) return;
  const removable = names
    .filter((n) => data.logins[n].lockedUntil <= now)
    .sort((a, b) => data.logins[a].lastAttemptAt - data.logins[b].lastAttemptAt);
  for (const n of removable.slice(0, names.length - max)) delete data.logins[n];
}
