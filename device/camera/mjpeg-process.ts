import { once } from 'node:events';
import { JpegStreamSplitter } from './jpeg-stream-splitter.ts';
import { terminate } from './process-lifecycle.ts';
import type { SourceError } from './source-error.ts';
import type { Session, SessionHooks } from './supervised-source.ts';
import type { SpawnFn } from './source-options.ts';

/** A program and its argv, as spawned (no shell). */
export interface ProcessCommand {
  command: string;
  args: string[];
  /** Signal that asks the program to shut down cleanly (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines the program wrote to stderr. */
  stderr: string;
}

/**
 * The largest JPEG frame accepted from a capture program: an uncompressed frame's size (a JPEG never
 * legitimately exceeds it), at least 1 MiB. Anything larger is garbage and is dropped, so a broken
 * stream cannot grow memory.
 */
export function maxJpegFrameBytes(width: number, height: number): number {
  return Math.max(1 << 20, width * height * 3);
}

export interface MjpegProcessOptions {
  spawn: SpawnFn;
  maxFrameBytes: number;
  /** Words an unexpected exit for a technician. */
  describeExit(exit: ProcessExit): SourceError;
  /** Words a failure to start the program at all (ENOENT, EACCES). */
  describeSpawnError(error: NodeJS.ErrnoException): SourceError;
}

/** Keeps only the end of a stream, so a chatty program cannot grow memory. */
class TailBuffer {
  private text = '';
  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-this.limit);
  }

  lastLines(count: number): string {
    return this.text.split('\n').map((line) => line.trim()).filter(Boolean).slice(-count).join(' | ');
  }
}

/** How long a dead process gets to flush stderr before its exit is reported. */
const STDERR_DRAIN_MS = 250;

/**
 * Runs one long-lived program that writes concatenated JPEGs to stdout (ffmpeg, gst-launch,
 * rpicam-vid) and turns its stdout into frames. Any exit that close() did not ask for is a
 * failure, reported with the program's last stderr lines.
 */
export function startMjpegProcess(cmd: ProcessCommand, hooks: SessionHooks, options: MjpegProcessOptions): Session {
  const child = options.spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let closing = false;
  const stderr = new TailBuffer(4096);
  const splitter = new JpegStreamSplitter({
    maxFrameBytes: options.maxFrameBytes,
    onFrame: (jpeg) => hooks.frame({ jpeg }),
  });

  child.stdout?.on('data', (chunk: Buffer) => splitter.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.on('error', (error: NodeJS.ErrnoException) => {
    if (!closing) hooks.fail(options.describeSpawnError(error));
  });
  child.on('exit', (code, signal) => {
    if (closing) return;
    const report = () => {
      if (!closing) hooks.fail(options.describeExit({ code, signal, stderr: stderr.lastLines(3) }));
    };
    if (child.stdio[2] && !child.stdio[2].readableEnded) {
      const timer = setTimeout(report, STDERR_DRAIN_MS);
      void once(child, 'close').then(() => {
        clearTimeout(timer);
        report();
      });
    } else {
      report();
    }
  });
  if (!child.stdout) {
    closing = true;
    void terminate(child);
    throw new Error(`${cmd.command} was spawned without a stdout pipe; the frame source needs stdio[1] = 'pipe'`);
  }

  return {
    close: async () => {
      closing = true;
      await terminate(child, { signal: cmd.stopSignal });
      splitter.reset();
    },
  };
}

/** "exited with code 1" / "was killed by SIGKILL", for messages. */
export function describeExitStatus(exit: ProcessExit): string {
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code ?? 'unknown'}`;
}
