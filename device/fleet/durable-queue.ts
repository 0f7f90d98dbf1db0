// Store and forward for the fleet: every status, event and result is queued here (and written to the
// log) before it is sent, and leaves only when the broker has acknowledged it. Delivery order is queue
// order, so what was produced during an outage, or before a restart, arrives in the order it was made.
import type { Logger } from '../logger.ts';
import { QueueLog, type QueuedKind, type QueuedMessage } from './queue-log.ts';

export type { QueuedKind, QueuedMessage } from './queue-log.ts';

export interface QueueLimits {
  /** Most messages held; beyond it the oldest of the least valued kind is dropped. */
  maxMessages: number;
  /** Most bytes (topic + payload) held. */
  maxBytes: number;
}

/** A day of status and events, or about an hour of every result at 15 fps, on a kiosk's SD card. */
export const DEFAULT_QUEUE_LIMITS: QueueLimits = { maxMessages: 50_000, maxBytes: 32 * 1024 * 1024 };

/** When full, results go first, then old status snapshots (the newest supersedes them), events last. */
const DROP_ORDER: readonly QueuedKind[] = ['results', 'status', 'events'];

/** The log is rewritten once this much of it is dead (acknowledged or dropped) and it is mostly dead. */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;
const DROP_LOG_EVERY_MS = 60_000;

export interface QueueStats {
  depth: number;
  bytes: number;
  inFlight: number;
  /** Messages dropped because the queue was full, by kind, since the kiosk started. */
  dropped: Record<QueuedKind, number>;
  /** Why the queue cannot be written to disk right now (it keeps working in memory), or null. */
  writeError: string | null;
}

function sizeOf(m: Pick<QueuedMessage, 'topic' | 'payload'>): number {
  return Buffer.byteLength(m.topic) + Buffer.byteLength(m.payload);
}

export class DurableQueue {
  /** Every queued message, in id (= delivery) order. */
  private readonly all = new Map<number, QueuedMessage>();
  /** The same messages per kind, also in id order: the oldest of a kind is its first entry. */
  private readonly byKind = new Map<QueuedKind, Map<number, QueuedMessage>>(DROP_ORDER.map((k) => [k, new Map()]));
  private readonly inFlight = new Set<number>();
  private readonly counters: Map<string, number>;
  private nextId: number;
  private heldBytes = 0;
  private liveLogBytes = 0;
  private readonly dropped: Record<QueuedKind, number> = { results: 0, status: 0, events: 0 };
  private lastDropLogAt = -Infinity;

  private constructor(private readonly log: QueueLog, loaded: ReturnType<typeof QueueLog.open>['loaded'], private readonly limits: QueueLimits, private readonly logger?: Logger) {
    this.nextId = loaded.nextId;
    this.counters = loaded.counters;
    for (const m of loaded.messages) this.hold(m);
    if (loaded.damagedLines) logger?.warn({ lines: loaded.damagedLines }, 'fleet queue: skipped damaged lines in the log');
    // Start from a compact file: the replayed acknowledgements are no longer needed.
    this.log.compact(this.all.values(), this.nextId, this.counters);
  }

  /** Opens the queue kept in `dir` (created if missing), with what an earlier run left in it. */
  static open(dir: string, limits: QueueLimits = DEFAULT_QUEUE_LIMITS, logger?: Logger): DurableQueue {
    const { log, loaded } = QueueLog.open(dir);
    const queue = new DurableQueue(log, loaded, limits, logger);
    if (queue.all.size) logger?.info({ depth: queue.all.size }, 'fleet queue: messages from before the restart will be delivered first');
    return queue;
  }

  /**
   * Queues a message: its seq is the next of `kind`'s counter, handed to `build` to make the payload.
   * Written to the log before this returns; makes room first by dropping when the queue is full.
   */
  enqueue(kind: QueuedKind, topic: string, retain: boolean, build: (seq: number) => string): QueuedMessage {
    const seq = (this.counters.get(kind) ?? 0) + 1;
    this.counters.set(kind, seq);
    const m: QueuedMessage = { id: this.nextId++, kind, topic, payload: build(seq), retain, seq };
    this.makeRoomFor(sizeOf(m));
    this.hold(m);
    this.log.appendMessage(m);
    return m;
  }

  /** The next value of a counter kept outside the queue (availability), persisted at once. */
  nextSeq(counter: string): number {
    const seq = (this.counters.get(counter) ?? 0) + 1;
    this.counters.set(counter, seq);
    this.log.appendCounter(counter, seq);
    return seq;
  }

  /** Up to `n` messages not yet in flight, oldest first; they count as in flight until ack or requeue. */
  take(n: number): QueuedMessage[] {
    const out: QueuedMessage[] = [];
    if (n <= 0) return out;
    for (const m of this.all.values()) {
      if (this.inFlight.has(m.id)) continue;
      this.inFlight.add(m.id);
      out.push(m);
      if (out.length >= n) break;
    }
    return out;
  }

  /** The broker has the message: it leaves the queue (an id already dropped is ignored). */
  ack(id: number): void {
    this.inFlight.delete(id);
    if (!this.release(id)) return;
    this.log.appendAck(id);
    this.maybeCompact();
  }

  /** The connection went away: what was in flight is sent again, in order, on the next one. */
  requeueInFlight(): void {
    this.inFlight.clear();
  }

  get depth(): number {
    return this.all.size;
  }

  stats(): QueueStats {
    return { depth: this.all.size, bytes: this.heldBytes, inFlight: this.inFlight.size, dropped: { ...this.dropped }, writeError: this.log.writeError };
  }

  close(): void {
    this.log.close();
  }

  private hold(m: QueuedMessage): void {
    this.all.set(m.id, m);
    this.byKind.get(m.kind)?.set(m.id, m);
    this.heldBytes += sizeOf(m);
    this.liveLogBytes += sizeOf(m) + 64;
  }

  private release(id: number): QueuedMessage | undefined {
    const m = this.all.get(id);
    if (!m) return undefined;
    this.all.delete(id);
    this.byKind.get(m.kind)?.delete(id);
    this.heldBytes -= sizeOf(m);
    this.liveLogBytes -= sizeOf(m) + 64;
    return m;
  }

  private makeRoomFor(bytes: number): void {
    const droppedNow: Record<QueuedKind, number> = { results: 0, status: 0, events: 0 };
    while (this.all.size > 0 && (this.all.size + 1 > this.limits.maxMessages || this.heldBytes + bytes > this.limits.maxBytes)) {
      const victim = this.oldestDroppable();
      if (!victim) break;
      this.release(victim.id);
      this.log.appendDrop(victim.id);
      this.dropped[victim.kind] += 1;
      droppedNow[victim.kind] += 1;
    }
    const total = droppedNow.results + droppedNow.status + droppedNow.events;
    // Once full, every new message drops one: a line each would flood the journal during a long
    // outage, so the first drop is logged and then the running totals once a minute.
    const now = Date.now();
    if (total && now - this.lastDropLogAt >= DROP_LOG_EVERY_MS) {
      this.lastDropLogAt = now;
      this.logger?.warn({ dropped: this.dropped, depth: this.all.size, bytes: this.heldBytes }, 'fleet queue full: dropping the oldest messages (results first)');
    }
    this.maybeCompact();
  }

  /** The oldest message of the first kind in DROP_ORDER that has one not in flight. */
  private oldestDroppable(): QueuedMessage | undefined {
    for (const kind of DROP_ORDER) {
      for (const m of this.byKind.get(kind)!.values()) {
        if (!this.inFlight.has(m.id)) return m;
      }
    }
    return undefined;
  }

  private maybeCompact(): void {
    const dead = this.log.bytes - this.liveLogBytes;
    if (dead > COMPACT_AFTER_BYTES && dead > this.liveLogBytes) this.log.compact(this.all.values(), this.nextId, this.counters);
  }
}
