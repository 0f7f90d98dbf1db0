import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../device/logger.ts';

/** A real pino logger whose JSON lines land in `lines`, one entry per log line, for asserting on. */
export function capturingLogger(level: string): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  return { logger: createLogger(level, sink), lines };
}
