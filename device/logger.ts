import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Paths pino blanks before a line is written. Secrets must never reach the journal, even when a
 * whole request, config or user record is logged by mistake.
 */
export const REDACT_PATHS = [
  'password', '*.password',
  'code', '*.code', 'totp', '*.totp',
  'secret', '*.secret', '*.totpSecret', 'totpSecret',
  'token', '*.token', 'jwt', '*.jwt',
  'jwtSecret', '*.jwtSecret', 'tlsKey', '*.tlsKey',
  'authorization', '*.authorization', 'headers.authorization', 'req.headers.authorization',
  'cookie', '*.cookie', 'headers.cookie', 'req.headers.cookie', 'res.headers["set-cookie"]',
  'VEGKIOSK_JWT_SECRET', '*.VEGKIOSK_JWT_SECRET', 'VEGKIOSK_TLS_KEY', '*.VEGKIOSK_TLS_KEY',
  // An enrolment's otpauth:// URI carries the TOTP secret in clear.
  'otpauthUri', '*.otpauthUri',
];

/**
 * Structured JSON logs to stdout (journald picks them up under systemd), or to `destination` in tests.
 * `secretPaths` adds paths to blank, e.g. those of the configuration keys declared secret.
 */
export function createLogger(level = 'info', destination?: pino.DestinationStream, secretPaths: readonly string[] = []): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'vegkiosk' },
    redact: { paths: [...new Set([...REDACT_PATHS, ...secretPaths])], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
