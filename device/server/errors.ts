/**
 * Errors the server turns into `{"error":{"code","message"}}`. Only these carry a message meant for
 * clients; anything else becomes a generic 500 so internals (paths, stack traces) never leak.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra response headers, e.g. Retry-After on 429. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

