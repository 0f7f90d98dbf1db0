import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { ServerConfigError } from '../config/config-error.ts';
import { fsyncDir } from '../store/durable-file.ts';

/** The shortest JWT signing key accepted (HS256 wants at least its 256-bit output size). */
export const MIN_JWT_SECRET_BYTES = 32;

/**
 * A random secret kept in `<dataDir>/<name>` with mode 0600, created on first use. The key is written
 * and synced under a temporary name, then hard-linked into place: a kill or power cut during creation
 * leaves no key file or a whole one, never an empty one, and link() fails if the name exists, so the
 * service and a CLI started at the same moment cannot end up with two different keys.
 */
export function loadOrCreateKeyFile(dataDir: string, name: string, bytes: number): Buffer {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, name);
  const temporary = join(dataDir, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    try {
      writeSync(fd, randomBytes(bytes).toString('base64'));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(temporary, path);
    fsyncDir(dataDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(temporary);
  }
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length < bytes) {
    throw new ServerConfigError('VEGKIOSK_DATA_DIR', `${path} is damaged (key shorter than ${bytes} bytes); restore it from a backup`);
  }
  return key;
}

/** VEGKIOSK_JWT_SECRET when set (refused under 32 bytes), else a key generated once into the data dir. */
export function resolveJwtSecret(config: Config): Buffer {
  if (config.jwtSecret) {
    const secret = Buffer.from(config.jwtSecret, 'utf8');
    if (secret.length < MIN_JWT_SECRET_BYTES) {
      throw new ServerConfigError('VEGKIOSK_JWT_SECRET',
        `too weak: must be at least ${MIN_JWT_SECRET_BYTES} bytes (leave empty to have one generated)`);
    }
    return secret;
  }
  return loadOrCreateKeyFile(config.dataDir, 'jwt-secret.key', 64);
}

/** Key that encrypts TOTP secrets at rest (AES-256-GCM). */
export function totpKey(dataDir: string): Buffer {
  return loadOrCreateKeyFile(dataDir, 'totp-secrets.key', 32).subarray(0, 32);
}
