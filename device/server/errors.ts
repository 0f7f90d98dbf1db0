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

/**
 * A configuration the server cannot run with (plain HTTP on a LAN address, weak JWT secret, missing
 * certificate file). `vegkiosk serve` maps it to exit code 78, like the config loader's own errors.
 */
export class ServerConfigError extends Error {
  readonly exitCode = 78;
  constructor(
    /** The VEGKIOSK_* key at fault. */
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
    this.name = 'ServerConfigError';
  }
}
