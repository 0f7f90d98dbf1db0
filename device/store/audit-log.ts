import type { Logger } from '../logger.ts';
import { expectArray, expectRecord, VersionedStore, type StoreSpec } from './versioned-store.ts';

export type AuditEvent =
  | 'login' | 'login_failed' | 'lockout' | 'logout'
  | 'user_added' | 'user_removed' | 'settings_changed'
  | 'class_learned' | 'class_forgotten';

export interface AuditEntry {
  at: string;
  event: AuditEvent;
  /** Who acted: a username, or "console" for the device CLI. */
  actor?: string;
  /** The user the event is about (login attempts name the username tried). */
  user?: string;
  ip?: string;
  detail?: string;
  /** class_learned / class_forgotten: the class, and how many examples were added or forgotten. */
  label?: string;
  count?: number;
}

export interface AuditData {
  entries: AuditEntry[];
}

/** Oldest entries roll off past this many, so the file never grows without bound on a months-long run. */
export const AUDIT_MAX_ENTRIES = 2000;

export const AUDIT_SPEC: StoreSpec<AuditData> = {
  file: 'audit.json',
  format: 'vegkiosk.audit',
  version: 1,
  migrations: {},
  empty: () => ({ entries: [] }),
  check(data: unknown): asserts data is AuditData {
    for (const e of expectArray(expectRecord(data, 'audit file').entries, 'audit entries')) {
      const r = expectRecord(e, 'audit entry');
      if (typeof r.at !== 'string' || typeof r.event !== 'string') throw new Error('audit entry without time or event');
    }
  },
};

/** Append-only audit trail (logins, failures, lockouts, user, settings and learned-class changes), newest last on disk. */
export class AuditLog {
  readonly store: VersionedStore<AuditData>;

  constructor(dataDir: string, private readonly logger?: Logger, private readonly max = AUDIT_MAX_ENTRIES) {
    this.store = new VersionedStore(dataDir, AUDIT_SPEC, logger).load();
  }

  record(entry: Omit<AuditEntry, 'at'>): void {
    const full: AuditEntry = { at: new Date().toISOString(), ...entry };
    try {
      this.store.update((d) => {
        d.entries.push(full);
        if (d.entries.length > this.max) d.entries.splice(0, d.entries.length - this.max);
      });
    } catch (err) {
      // Losing an audit line must not turn a login into a 500; the journal still has it.
      this.logger?.error({ err: (err as Error).message, audit: full }, 'could not write audit entry');
    }
    this.logger?.info({ audit: full }, 'audit');
  }

  /** Newest first. */
  recent(limit: number): AuditEntry[] {
    this.store.refresh();
    return this.store.data.entries.slice(-limit).reverse();
  }
}
