/**
 * Configuration that cannot be used. Whoever finds it (the loader, or the server, auth or store when
 * they first use a configured file) throws one of these, and `vegkiosk` exits 78 with one line per
 * problem, each naming its key. It sits in config/ because every layer above may need to throw it.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/**
 * A configuration the service finds unusable only when it starts (a certificate that is not PEM, an
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
