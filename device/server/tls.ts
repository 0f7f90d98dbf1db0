import { spawn } from 'node:child_process';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Logger } from '../logger.ts';
import { ServerConfigError } from '../config/config-error.ts';

/**
 * TLS 1.2 suites the server accepts: Mozilla's "intermediate" profile (Server Side TLS guidelines, version 5)
 * without its DHE-RSA suites, so every handshake uses ECDHE with an AEAD cipher. Node's default list
 * (built on OpenSSL's HIGH) also accepted CBC suites with SHA-1 and SHA-2 MACs, static-RSA key exchange,
 * CCM, CCM8 and ARIA, which is what a scanner reported. ECDSA first: the self-signed key is P-256, and
 * the RSA ones serve an operator's RSA certificate.
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/** TLS 1.3 suites (all three AEADs the protocol defines for general use; the same as Mozilla's). */
export const TLS13_CIPHERSUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;

/**
 * What the HTTPS server negotiates (SECURITY.md, "TLS profile"; test/server-https.test.ts enumerates it
 * the way a scanner does). The key-exchange groups are Mozilla's too. The client's preference among
 * these suites is honoured, as Mozilla advises when every suite offered is strong.
 */
export const TLS_PROFILE: Pick<TlsOptions, 'minVersion' | 'maxVersion'> & Pick<SecureContextOptions, 'ciphers' | 'ecdhCurve'> = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  // Node passes names starting with TLS_ to OpenSSL as TLS 1.3 suites and the rest as the 1.2 list.
  ciphers: [...TLS13_CIPHERSUITES, ...TLS12_CIPHERS].join(':'),
  ecdhCurve: 'X25519:prime256v1:secp384r1',
};

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 fingerprint, colon-separated hex, as browsers show it. */
  fingerprint256: string;
  /** Where the pair came from: the operator's files or the generated self-signed pair. */
  origin: 'configured' | 'self-signed';
  certPath: string;
}

/**
 * The operator's VEGKIOSK_TLS_CERT/KEY when given, else a self-signed pair in `<dataDir>/tls/`,
 * created on first start with the openssl CLI (no extra npm dependency, and the same tool the
 * install script and technicians use). The fingerprint is logged so a technician can check the
 * browser warning against the kiosk's console.
 */
export async function loadTlsMaterial(config: Config, logger: Logger): Promise<TlsMaterial> {
  if (config.tlsCert || config.tlsKey) {
    if (!config.tlsCert || !config.tlsKey) {
      throw new ServerConfigError(config.tlsCert ? 'VEGKIOSK_TLS_KEY' : 'VEGKIOSK_TLS_CERT',
        'VEGKIOSK_TLS_CERT and VEGKIOSK_TLS_KEY must be given together');
    }
    const cert = readPem(config.tlsCert, 'VEGKIOSK_TLS_CERT');
    const key = readPem(config.tlsKey, 'VEGKIOSK_TLS_KEY');
    const fingerprint256 = fingerprintOf(cert, 'VEGKIOSK_TLS_CERT');
    logger.info({ cert: config.tlsCert, fingerprint256 }, 'TLS certificate loaded');
    return { cert, key, fingerprint256, origin: 'configured', certPath: config.tlsCert };
  }

  const dir = join(config.dataDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    await generateSelfSigned(dir, certPath, keyPath, config.host);
    const fingerprint256 = fingerprintOf(readFileSync(certPath), 'VEGKIOSK_TLS_CERT');
    logger.warn({ cert: certPath, fingerprint256 },
      'created a self-signed TLS certificate; compare this fingerprint with the one the browser shows');
  }
  // Tighten in case an operator copied the files in with a loose umask.
  chmodSync(keyPath, 0o600);
  const cert = readFileSync(certPath);
  const key = readFileSync(keyPath);
  const fingerprint256 = fingerprintOf(cert, 'VEGKIOSK_TLS_CERT');
  logger.info({ cert: certPath, fingerprint256 }, 'TLS certificate');
  return { cert, key, fingerprint256, origin: 'self-signed', certPath };
}

function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ServerConfigError(key, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function fingerprintOf(cert: Buffer, key: string): string {
  try {
    return new X509Certificate(cert).fingerprint256;
  } catch {
    throw new ServerConfigError(key, 'not a PEM X.509 certificate');
  }
}

async function generateSelfSigned(dir: string, certPath: string, keyPath: string, host: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const names = new Set(['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', `DNS:${hostname()}`]);
  if (isIP(host) && host !== '0.0.0.0' && host !== '::') names.add(`IP:${host}`);
  else if (!isIP(host)) names.add(`DNS:${host}`);
  // Written under temporary names and renamed, so a crash mid-generation never leaves half a pair.
  const tmpCert = `${certPath}.tmp`;
  const tmpKey = `${keyPath}.tmp`;
  const args = [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', tmpKey, '-out', tmpCert, '-days', '825', '-sha256',
    '-subj', `/CN=vegkiosk ${hostname()}`.slice(0, 64),
    '-addext', `subjectAltName=${[...names].join(',')}`,
  ];
  await new Promise<void>((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
    child.on('error', (err) => reject(new ServerConfigError('VEGKIOSK_TLS_CERT',
      `no certificate configured and openssl could not be run to create one (${err.message}); install openssl or set VEGKIOSK_TLS_CERT/KEY`)));
    child.on('exit', (code) => code === 0 ? resolve() : reject(new Error(
      `openssl failed to create a self-signed certificate (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`)));
  }).catch((err) => {
    rmSync(tmpCert, { force: true });
    rmSync(tmpKey, { force: true });
    throw err;
  });
  chmodSync(tmpKey, 0o600);
  renameSync(tmpKey, keyPath);
  renameSync(tmpCert, certPath);
}
