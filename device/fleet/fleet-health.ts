import type { QueueStats } from './durable-queue.ts';

/** The fleet publisher's state for /api/status, /metrics, the dashboard and doctor. */
export interface FleetHealth {
  /** Scheme, host and port; never credentials. */
  broker: string;
  kioskId: string;
  topicPrefix: string;
  results: 'changes' | 'all' | 'off';
  state: 'connecting' | 'connected' | 'disconnected' | 'stopped';
  /** ISO time of the last state change. */
  since: string;
  queue: QueueStats;
  /** Messages the broker acknowledged since start. */
  delivered: number;
  /** Sessions opened since start (the first included). */
  connects: number;
  lastError: string | null;
  lastErrorAt: string | null;
}
