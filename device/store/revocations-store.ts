import type { Logger } from '../logger.ts';
import { expectArray, expectRecord, VersionedStore, type StoreSpec } from './versioned-store.ts';

export interface Revocation {
  jti: string;
  /** Token expiry, seconds since the epoch: after it the entry is useless and is pruned. */
  exp: number;
}

export interface RevocationsData {
  revoked: Revocation[];
}

/** Revocations only live until their token would expire anyway; this caps the file between prunes. */
export const REVOCATIONS_MAX = 10_000;

export const REVOCATIONS_SPEC: StoreSpec<RevocationsData> = {
  file: 'revocations.json',
  format: 'vegkiosk.revocations',
  version: 1,
  migrations: {},
  empty: () => ({ revoked: [] }),
  check(data: unknown): asserts data is RevocationsData {
    for (const r of expectArray(expectRecord(data, 'revocations file').revoked, 'revocations')) {
      const e = expectRecord(r, 'revocation');
      if (typeof e.jti !== 'string' || typeof e.exp !== 'number') throw new Error('revocation without jti or exp');
    }
  },
};

/** Server-side session revocation (logout), persisted so a restart does not revive logged-out tokens. */
export class RevocationList {
  private readonly store: VersionedStore<RevocationsData>;
  private index = new Set<string>();

  constructor(dataDir: string, logger?: Logger) {
    this.store = new VersionedStore(dataDir, REVOCATIONS_SPEC, logger).load();
    this.reindex();
  }

  revoke(jti: string, exp: number): void {
    const now = Date.now() / 1000;
    this.store.update((d) => {
      d.revoked = d.revoked.filter((r) => r.exp > now);
      d.revoked.push({ jti, exp });
      // Past the cap the soonest-expiring go first; login rate limits keep this far away in practice.
      if (d.revoked.length > REVOCATIONS_MAX) {
        d.revoked.sort((a, b) => a.exp - b.exp).splice(0, d.revoked.length - REVOCATIONS_MAX);
      }
    });
    this.reindex();
  }

  isRevoked(jti: string): boolean {
    if (this.store.refresh()) this.reindex();
    return this.index.has(jti);
  }

  private reindex(): void {
    this.index = new Set(this.store.data.revoked.map((r) => r.jti));
  }
}
