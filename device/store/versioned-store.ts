import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LowSync } from 'lowdb';
import type { Logger } from '../logger.ts';
import { DurableJsonFile, StoreDamagedError } from './durable-file.ts';
import { withFileLock } from './file-lock.ts';
import { noteWriteFailed, noteWriteOk } from './storage-health.ts';

/** What is on disk: the data wrapped with its format name and version, so upgrades can migrate it. */
export interface Envelope<T> {
  format: string;
  version: number;
  data: T;
}

export interface StoreSpec<T> {
  /** File name inside the data directory, e.g. "users.json". */
  file: string;
  /** Format name written into the file; a file of another format is refused. */
  format: string;
  /** Current format version. */
  version: number;
  /** migrations[n] turns version-n data into version n+1. */
  migrations: Record<number, (data: unknown) => unknown>;
  empty(): T;
  /** Throws with a short reason when `data` is not a valid current-version value. */
  check(data: unknown): asserts data is T;
}

/**
 * One lowdb-backed JSON file in the data directory: durable writes (see DurableJsonFile), format
 * version with forward migration, cross-process locking for read-modify-write, and `refresh()` so
 * a change made by another process (the `enroll` CLI) is seen before the next decision.
 */
export class VersionedStore<T> {
  readonly path: string;
  private readonly db: LowSync<Envelope<T>>;
  private seen = '';
  /** The file version a refresh could not read: not read (nor logged) again until the file changes. */
  private unreadable: string | null = null;

  constructor(dataDir: string, private readonly spec: StoreSpec<T>, private readonly logger?: Logger) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    this.path = join(dataDir, spec.file);
    const adapter = new DurableJsonFile<Envelope<T>>(this.path, {
      parse: (text) => this.parseEnvelope(text),
      onRestore: (reason) => this.logger?.warn({ file: this.path, reason },
        'data file was damaged (power loss?); restored the last good copy from its .bak'),
    });
    this.db = new LowSync(adapter, { format: spec.format, version: spec.version, data: spec.empty() });
  }

  /** Reads the file (creating nothing yet); migrates older versions forward and saves the result. */
  load(): this {
    this.readFromDisk();
    return this;
  }

  get data(): T {
    return this.db.data.data;
  }

  /** Re-reads the file if another process replaced it since we last read or wrote it. */
  refresh(): boolean {
    const fingerprint = this.fingerprint();
    // Refresh runs on every request and every second per WebSocket client: a damaged file is read and
    // logged once, not at that rate for as long as it stays damaged.
    if (fingerprint === this.seen || fingerprint === this.unreadable) return false;
    try {
      this.readFromDisk();
      this.unreadable = null;
      return true;
    } catch (err) {
      // Keep serving from the last good in-memory copy rather than failing every request.
      this.unreadable = fingerprint;
      this.logger?.error({ file: this.path, err: (err as Error).message }, 'could not re-read data file; keeping the copy in memory');
      return false;
    }
  }

  /** Read-modify-write under the cross-process lock, always on the newest data. */
  update<R>(fn: (data: T) => R): R {
    return this.writing(() => {
      this.refreshOrThrow();
      const result = fn(this.db.data.data);
      this.spec.check(this.db.data.data);
      this.db.write();
      this.seen = this.fingerprint();
      return result;
    });
  }

  /** Writes the in-memory data as is (for stores only this process changes, e.g. recent results). */
  save(): void {
    this.writing(() => {
      this.db.write();
      this.seen = this.fingerprint();
    });
  }

  /**
   * Every write goes through here (lock file included, which needs disk space too), so a full or
   * read-only disk is logged once, shows in /healthz, and clears with the next good write.
   */
  private writing<R>(fn: () => R): R {
    let result: R;
    try {
      result = withFileLock(this.path, fn);
    } catch (err) {
      // Only errors from the file system itself (they carry an errno code) say something about the disk.
      if (typeof (err as NodeJS.ErrnoException).code === 'string') {
        const { message, first } = noteWriteFailed(this.path, err);
        if (first) this.logger?.error({ file: this.path, code: (err as NodeJS.ErrnoException).code }, message);
      }
      throw err;
    }
    if (noteWriteOk()) this.logger?.info({ file: this.path }, 'data files can be written again');
    return result;
  }

  private refreshOrThrow(): void {
    if (this.fingerprint() !== this.seen) this.readFromDisk();
  }

  private readFromDisk(): void {
    this.db.read();
    const onDisk = this.db.data;
    if (onDisk.version < this.spec.version) {
      const from = onDisk.version;
      let data: unknown = onDisk.data;
      for (let v = from; v < this.spec.version; v++) data = this.spec.migrations[v](data);
      this.spec.check(data);
      // Keep the pre-migration file: a downgrade or a bad migration must not cost the data.
      copyFileSync(this.path, `${this.path}.v${from}.bak`);
      this.db.data = { format: this.spec.format, version: this.spec.version, data };
      this.writing(() => this.db.write());
      this.logger?.info({ file: this.path, from, to: this.spec.version }, 'migrated data file to the current format');
    }
    this.seen = this.fingerprint();
  }

  private parseEnvelope(text: string): Envelope<T> {
    const value = JSON.parse(text) as Partial<Envelope<unknown>> | null;
    if (!value || typeof value !== 'object' || typeof value.version !== 'number' || !('data' in value)) {
      throw new Error('not a vegkiosk data file (no format version)');
    }
    if (value.format !== this.spec.format) throw new Error(`format is ${String(value.format)}, expected ${this.spec.format}`);
    if (value.version > this.spec.version) {
      throw new StoreDamagedError(`${this.path} was written by a newer vegkiosk (format version ${value.version}; ` +
        `this version reads up to ${this.spec.version}). Upgrade vegkiosk or restore the file from a backup.`);
    }
    if (!Number.isInteger(value.version) || value.version < 1 || (value.version < this.spec.version && !this.spec.migrations[value.version])) {
      throw new Error(`unsupported format version ${value.version}`);
    }
    if (value.version === this.spec.version) this.spec.check(value.data);
    return value as Envelope<T>;
  }

  /** inode + size + mtime: a rename (every write) changes the inode, so this catches every replace. */
  private fingerprint(): string {
    try {
      const s = statSync(this.path);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'absent';
    }
  }
}

/** Small shape checks for store validators: throw a short reason. */
export function expectArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${what} is not a list`);
  return value;
}

export function expectRecord(value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${what} is not an object`);
  return value as Record<string, unknown>;
}
