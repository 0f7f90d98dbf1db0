// The fleet queue's file: an append-only log of JSON lines in the data directory, so that what the
// kiosk meant to publish survives a broker outage, a restart, a kill -9 and (once synced) power loss.
//
// Why not SQLite: better-sqlite3 ships no prebuilt binary in its npm package and the project's .npmrc
// (ignore-scripts) never runs its download-or-compile step, and Node 20 has no built-in sqlite. The
// log below needs nothing but node:fs and is as durable for this one job: every record is written
// with one write() before the message is sent (a kill -9 loses nothing the kernel holds), fdatasync
// follows within SYNC_DELAY_MS (power loss loses at most that window), and compaction writes a new
// file, syncs it and renames it over the old one, so a crash leaves either the old or the new log.
import { closeSync, existsSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../supervision/error-message.ts';

/** The kinds of message that go through the queue (availability and discovery are connection state). */
export type QueuedKind = 'status' | 'events' | 'results';

export interface QueuedMessage {
  /** Position in the queue: increasing, never reused. */
  id: number;
  kind: QueuedKind;
  topic: string;
  payload: string;
  retain: boolean;
  /** The message's seq in its own stream (the counter named by `kind`). */
  seq: number;
}

/** One line of the log. */
type LogRecord =
  | { h: 1; next: number; seq: Record<string, number> }
  | { i: number; k: QueuedKind; t: string; r: 0 | 1; s: number; p: string }
  | { a: number }
  | { d: number }
  | { c: string; s: number };

/** What a log held when it was opened. */
export interface LoadedLog {
  messages: QueuedMessage[];
  nextId: number;
  counters: Map<string, number>;
  /** Lines that could not be read (a torn last write is cut off and not counted). */
  damagedLines: number;
}

const LOG_NAME = 'queue.log';
const FORMAT = 1;
/** Longest a written record waits for fdatasync (power loss, not kill -9, can take this much). */
const SYNC_DELAY_MS = 200;

export class QueueLog {
  private fd: number;
  private fileBytes: number;
  private syncTimer: NodeJS.Timeout | null = null;
  private syncing = false;
  private closed = false;
  /** The last write or sync error, until a write succeeds again. */
  writeError: string | null = null;

  private constructor(private readonly dir: string, fd: number, bytes: number) {
    this.fd = fd;
    this.fileBytes = bytes;
  }

  /** Opens (creating) the log in `dir` and reads what it holds. */
  static open(dir: string): { log: QueueLog; loaded: LoadedLog } {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // A compaction that died before its rename left a partial file; the log itself is intact.
    rmSync(join(dir, `${LOG_NAME}.tmp`), { force: true });
    const path = join(dir, LOG_NAME);
    const loaded = existsSync(path) ? readLog(path) : { messages: [], nextId: 1, counters: new Map(), damagedLines: 0, goodBytes: 0 };
    const fd = openSync(path, 'a+', 0o600);
    // A torn last line (power loss mid-write) is cut off, so the next record starts on a line of its own.
    if (fstatSync(fd).size !== loaded.goodBytes) ftruncateSync(fd, loaded.goodBytes);
    const log = new QueueLog(dir, fd, loaded.goodBytes);
    return { log, loaded };
  }

  get bytes(): number {
    return this.fileBytes;
  }

  appendMessage(m: QueuedMessage): void {
    this.append({ i: m.id, k: m.kind, t: m.topic, r: m.retain ? 1 : 0, s: m.seq, p: m.payload });
  }

  appendAck(id: number): void {
    this.append({ a: id });
  }

  appendDrop(id: number): void {
    this.append({ d: id });
  }

  appendCounter(name: string, value: number): void {
    this.append({ c: name, s: value });
  }

  /**
   * Replaces the log by a header and the live messages: written to a temp file, synced, renamed over
   * the log and the directory synced. Synchronous, so no append can slip in between.
   */
  compact(live: Iterable<QueuedMessage>, nextId: number, counters: Map<string, number>): void {
    if (this.closed) return;
    if (this.syncing) {
      // An fdatasync of the old descriptor is running in the thread pool: closing it now could let
      // the number be reused under it. The next append or ack tries again.
      return;
    }
    const tmp = join(this.dir, `${LOG_NAME}.tmp`);
    const path = join(this.dir, LOG_NAME);
    const lines = [line({ h: FORMAT, next: nextId, seq: Object.fromEntries(counters) })];
    for (const m of live) lines.push(line({ i: m.id, k: m.kind, t: m.topic, r: m.retain ? 1 : 0, s: m.seq, p: m.payload }));
    const text = lines.join('');
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, text);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      syncDirectory(this.dir);
      this.clearSyncTimer();
      closeSync(this.fd);
      this.fd = openSync(path, 'a', 0o600);
      this.fileBytes = Buffer.byteLength(text);
      this.writeError = null;
    } catch (err) {
      this.writeError = `compacting the fleet queue failed: ${errorMessage(err)}`;
      rmSync(tmp, { force: true });
    }
  }

  /** Syncs what was written and closes the file. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearSyncTimer();
    try {
      fdatasyncSync(this.fd);
    } catch {
      // Closing anyway: the records were written; only power loss could still take them.
    }
    closeSync(this.fd);
  }

  private append(record: LogRecord): void {
    if (this.closed) return;
    const text = line(record);
    try {
      writeSync(this.fd, text);
      this.fileBytes += Buffer.byteLength(text);
      this.writeError = null;
    } catch (err) {
      // The disk is full or failing: the message stays queued in memory and the status says so.
      this.writeError = `writing the fleet queue failed: ${errorMessage(err)}`;
      return;
    }
    this.scheduleSync();
  }

  private scheduleSync(): void {
    if (this.syncTimer || this.syncing) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = null;
      if (this.closed) return;
      this.syncing = true;
      // In the thread pool: an SD card's slow sync never holds up the event loop (or the pipeline).
      fdatasync(this.fd, (err) => {
        this.syncing = false;
        if (err) this.writeError = `syncing the fleet queue failed: ${err.message}`;
      });
    }, SYNC_DELAY_MS);
    this.syncTimer.unref();
  }

  private clearSyncTimer(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
  }
}

function line(record: LogRecord): string {
  return `${JSON.stringify(record)}\n`;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replays the log: messages minus those acknowledged or dropped, the counters' highest values. */
function readLog(path: string): LoadedLog & { goodBytes: number } {
  const buffer = readFileSync(path);
  const messages = new Map<number, QueuedMessage>();
  const counters = new Map<string, number>();
  let nextId = 1;
  let damagedLines = 0;
  let offset = 0;
  let goodBytes = 0;
  const bump = (name: string, value: number) => counters.set(name, Math.max(counters.get(name) ?? 0, value));
  while (offset < buffer.length) {
    const end = buffer.indexOf(0x0a, offset);
    if (end === -1) break; // torn last write: cut off by open()
    const text = buffer.toString('utf8', offset, end);
    offset = end + 1;
    goodBytes = offset;
    let record: Partial<Record<string, unknown>>;
    try {
      record = JSON.parse(text) as Partial<Record<string, unknown>>;
    } catch {
      damagedLines += 1;
      continue;
    }
    if (typeof record.h === 'number') {
      nextId = Math.max(nextId, Number(record.next) || 1);
      for (const [name, value] of Object.entries((record.seq ?? {}) as Record<string, number>)) bump(name, value);
    } else if (typeof record.i === 'number') {
      const m: QueuedMessage = {
        id: record.i, kind: record.k as QueuedKind, topic: String(record.t), payload: String(record.p), retain: record.r === 1, seq: Number(record.s),
      };
      messages.set(m.id, m);
      nextId = Math.max(nextId, m.id + 1);
      bump(m.kind, m.seq);
    } else if (typeof record.a === 'number') {
      messages.delete(record.a);
    } else if (typeof record.d === 'number') {
      messages.delete(record.d);
    } else if (typeof record.c === 'string') {
      bump(record.c, Number(record.s));
    } else {
      damagedLines += 1;
    }
  }
  const ordered = [...messages.values()].sort((a, b) => a.id - b.id);
  return { messages: ordered, nextId, counters, damagedLines, goodBytes };
}

/** What the queue in `dir` holds, read without writing (doctor, while the service may be running). */
export function peekQueue(dir: string): { depth: number; bytes: number } {
  const path = join(dir, LOG_NAME);
  if (!existsSync(path)) return { depth: 0, bytes: 0 };
  const { messages } = readLog(path);
  return { depth: messages.length, bytes: messages.reduce((n, m) => n + Buffer.byteLength(m.topic) + Buffer.byteLength(m.payload), 0) };
}
