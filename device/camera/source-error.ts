/**
 * A failure worded for the technician who reads /healthz or the journal: what failed and what to
 * check. `permanent` marks causes that retrying alone will not fix (a program not installed, a
 * replay path with no images); the supervisor still retries them, but slowly, and reports `failed`.
 */
export class SourceError extends Error {
  readonly permanent: boolean;

  constructor(message: string, options: { permanent?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SourceError';
    this.permanent = options.permanent ?? false;
  }
}
