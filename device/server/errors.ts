import { ConfigError } from '../config/load-config.ts';

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
 * A configuration the server finds unusable only when it starts (a certificate that is not PEM, an
 * unreadable key, a damaged key file). It is a ConfigError, so `vegkiosk serve` exits 78 naming the key,
 * like the config loader's own errors.
 */
export class ServerConfigError extends ConfigError {
  constructor(
    /** The VEGKIOSK_* key at fault. */
    readonly key: string,
    message: string,
  ) {
    super([`${key}: ${message}`]);
    this.name = 'ServerConfigError';
  }
}
