import { statfsSync } from 'node:fs';

/** Below this much free space the data disk is reported as nearly full (the stores need about 2x their size to rewrite). */
export const LOW_DISK_BYTES = 4 * 1024 * 1024;

export interface StorageHealth {
  path: string;
  state: 'ok' | 'low' | 'failing';
  freeBytes: number | null;
  totalBytes: number | null;
  /** The last data-file write that failed, if no write has succeeded since; worded for a technician. */
  lastError: string | null;
  lastErrorAt: number | null;
}

/**
 * Process-wide record of data-file writes. A write that fails (ENOSPC on a full SD card, EROFS after
 * the kernel remounted it read-only) is remembered until the next write succeeds, so /healthz can say
 * why the service is degraded even between writes.
 */
let failure: { message: string; at: number } | null = null;

/** Records a failed write; returns the technician's message and whether it starts a run of failures. */
export function noteWriteFailed(file: string, err: unknown): { message: string; first: boolean } {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOSPC' || code === 'EDQUOT'
    ? 'the data disk is full'
    : code === 'EROFS'
      ? 'the data disk is read-only (the kernel remounts a failing SD card read-only)'
      : `${(err as Error).message}`;
  const message = `cannot write ${file}: ${why}${code ? ` (${code})` : ''}. Free space on the data disk or replace it; ` +
    'the service keeps running on the copy in memory and the file on disk keeps its last good content.';
  const first = failure === null;
  failure = { message, at: Date.now() };
  return { message, first };
}

/** Returns true when this success ends a run of failures (worth a log line). */
export function noteWriteOk(): boolean {
  const recovered = failure !== null;
  failure = null;
  return recovered;
}

/** Free space where the data files live plus the write record; statfs is one cheap syscall. */
export function storageHealth(path: string, lowBytes = LOW_DISK_BYTES): StorageHealth {
  let freeBytes: number | null = null;
  let totalBytes: number | null = null;
  try {
    const s = statfsSync(path);
    freeBytes = s.bavail * s.bsize;
    totalBytes = s.blocks * s.bsize;
  } catch {
    // Reported as unknown; a missing data directory shows up as a write failure soon enough.
  }
  const state = failure ? 'failing' : freeBytes !== null && freeBytes < lowBytes ? 'low' : 'ok';
  return { path, state, freeBytes, totalBytes, lastError: failure?.message ?? null, lastErrorAt: failure?.at ?? null };
}
