import {
  closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, rmSync, writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { SyncAdapter } from 'lowdb';

/** Thrown when a data file and its backup are both unusable; the service refuses to start on it. */
export class StoreDamagedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreDamagedError';
  }
}

export interface DurableFileOptions {
  /** Parses and checks one file's text; throws with a short reason when it is not usable. */
  parse(text: string): unknown;
  /** Told when the main file was damaged and the backup was put back in its place. */
  onRestore?(reason: string): void;
}

/**
 * A lowdb adapter that survives power loss. lowdb's own TextFile (steno) writes a temp file and
 * renames it, but never fsyncs, so after a power cut the rename can land before the data and leave an
 * empty or truncated file. Here every write is:
 *   1. the new text to `.<name>.tmp`, fsync'd;
 *   2. the current file hard-linked to `<name>.bak` (the last good write, kept without copying);
 *   3. the temp renamed over `<name>`, then the directory fsync'd so the rename itself is durable.
 * On read, a main file that does not parse is replaced by `<name>.bak`; if that fails too, reading
 * throws StoreDamagedError rather than starting empty.
 */
export class DurableJsonFile<T> implements SyncAdapter<T> {
  readonly path: string;
  readonly backupPath: string;
  private readonly tempPath: string;

  constructor(path: string, private readonly options: DurableFileOptions) {
    this.path = path;
    this.backupPath = `${path}.bak`;
    this.tempPath = join(dirname(path), `.${basename(path)}.tmp`);
  }

  read(): T | null {
    const main = this.tryRead(this.path);
    if (main.ok) return main.value as T;
    if (main.reason === 'missing' && !existsSync(this.backupPath)) return null;
    const backup = this.tryRead(this.backupPath);
    if (!backup.ok) {
      throw new StoreDamagedError(
        `${this.path} is ${main.reason === 'missing' ? 'missing' : `damaged (${main.reason})`} and its backup ` +
        `${this.backupPath} is ${backup.reason === 'missing' ? 'missing' : `damaged too (${backup.reason})`}; ` +
        'refusing to start with empty data. Restore the file from a backup, or move it aside to start over.');
    }
    this.options.onRestore?.(main.reason === 'missing' ? 'file missing' : main.reason);
    // Put the good copy back first, so the damaged file is never mistaken for data again.
    this.writeText(readFileSync(this.backupPath, 'utf8'), false);
    return backup.value as T;
  }

  write(data: T): void {
    this.writeText(`${JSON.stringify(data)}\n`, true);
  }

  private writeText(text: string, keepBackup: boolean): void {
    const fd = openSync(this.tempPath, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (keepBackup && existsSync(this.path)) {
      const link = `${this.tempPath}.bak`;
      rmSync(link, { force: true });
      linkSync(this.path, link);
      renameSync(link, this.backupPath);
    }
    renameSync(this.tempPath, this.path);
    fsyncDir(dirname(this.path));
  }

  private tryRead(path: string): { ok: true; value: unknown } | { ok: false; reason: string } {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, reason: code === 'ENOENT' ? 'missing' : `unreadable: ${code}` };
    }
    try {
      return { ok: true, value: this.options.parse(text) };
    } catch (err) {
      // A file from a newer version is not damage: falling back to the backup would hide it.
      if (err instanceof StoreDamagedError) throw err;
      return { ok: false, reason: text.length === 0 ? 'empty file' : (err as Error).message.slice(0, 200) };
    }
  }
}

/** Makes a directory's new entries (a rename, a link) durable, where the file system allows it. */
export function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems (and Windows) cannot fsync a directory; the data itself is already synced.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
