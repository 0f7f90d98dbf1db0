import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactUrl } from '../camera/camera-spec.ts';
import { ConfigError } from './config-error.ts';
import { InvalidValue, type KeyDeclaration } from './config-key.ts';
import { CONFIG_KEYS, type Config } from './config.ts';
import { isLoopbackHost } from './loopback.ts';

/** The package root: defaults' relative paths (model, data dir) are anchored here, not at the cwd. */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DEFAULTS_PATH = resolve(PACKAGE_ROOT, 'config/default.json');

/** Exit status for bad configuration (sysexits EX_CONFIG), which systemd and scripts can tell apart. */
export const EXIT_CONFIG = 78;
/** The shipped detector's path, as a default is resolved (from the package). */
export const DEFAULT_DETECTOR = resolve(PACKAGE_ROOT, String(CONFIG_KEYS.detector.default));

/** Environment variables that steer loading itself and are not configuration keys. */
const LOADER_VARIABLES = new Set(['VEGKIOSK_CONFIG']);

type Origin = 'default' | 'file' | 'environment';
type RawValue = { value: unknown; origin: Origin };

/** The declaration of each key, by its name (files and the environment use the names). */
const DECLARATIONS = new Map<string, { field: keyof Config; key: KeyDeclaration<unknown> }>(
  Object.entries(CONFIG_KEYS).map(([field, key]) => [key.env, { field: field as keyof Config, key }]),
);

function readJsonObject(path: string, what: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push(`VEGKIOSK_CONFIG: cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`VEGKIOSK_CONFIG: ${what} ${path} must hold one JSON object`);
      return {};
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    problems.push(`VEGKIOSK_CONFIG: ${what} ${path} is not valid JSON (${(err as Error).message})`);
    return {};
  }
}

function describe(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/**
 * Checks one value's JSON type (environment strings are converted for integer keys), then hands it to
 * the key's parser. Returns the typed value, or undefined after adding one problem naming the key.
 */
function checkValue(env: string, key: KeyDeclaration<unknown>, raw: RawValue, baseDir: string, problems: string[]): { value: unknown } | undefined {
  const where = raw.origin === 'environment' ? ' (from the environment)' : raw.origin === 'file' ? ' (from VEGKIOSK_CONFIG)' : '';
  // A URL (a camera's) may carry a password.
  const shown = key.secret ? '' : ` (got ${describe(typeof raw.value === 'string' ? redactUrl(raw.value) : raw.value)})`;
  let value: string | number;
  if (key.json === 'integer') {
    if (typeof raw.value === 'number' && Number.isInteger(raw.value)) value = raw.value;
    else if (raw.origin === 'environment' && typeof raw.value === 'string' && /^-?\d+$/.test(raw.value.trim())) value = Number(raw.value.trim());
    else {
      problems.push(`${env}: must be an integer${shown}${where}`);
      return undefined;
    }
  } else if (typeof raw.value === 'string') {
    value = raw.value;
  } else {
    problems.push(`${env}: must be a string${shown}${where}`);
    return undefined;
  }
  try {
    return { value: key.parse(value, { baseDir }) };
  } catch (err) {
    if (!(err instanceof InvalidValue)) throw err;
    const expected = err.expected ? `; expected ${err.expected}` : '';
    problems.push(`${env}: ${err.reason}${err.showValue ? shown : ''}${where}${expected}`);
    return undefined;
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Directory user-given relative paths are resolved against. */
  cwd?: string;
  /** Values from command-line flags (e.g. `classify --model`), which win over everything else. */
  overrides?: Record<string, string>;
  /** Commands that never open the model (enroll, users) skip the check that the model file exists. */
  needsModel?: boolean;
}

/**
 * Merges config/default.json, the VEGKIOSK_CONFIG file and the environment (in rising precedence),
 * validates every key by its declaration (config.ts), and returns a typed Config or throws
 * ConfigError listing every problem.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const problems: string[] = [];
  const merged = new Map<string, RawValue>();

  for (const [name, value] of Object.entries(readJsonObject(DEFAULTS_PATH, 'defaults file', problems))) {
    merged.set(name, { value, origin: 'default' });
  }
  const extraPath = env.VEGKIOSK_CONFIG;
  if (extraPath) {
    for (const [name, value] of Object.entries(readJsonObject(resolve(cwd, extraPath), 'config file', problems))) {
      if (!DECLARATIONS.has(name)) problems.push(`${name}: unknown configuration key (in ${extraPath})`);
      else merged.set(name, { value, origin: 'file' });
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('VEGKIOSK_') || LOADER_VARIABLES.has(name) || value === undefined) continue;
    if (!DECLARATIONS.has(name)) problems.push(`${name}: unknown configuration key (from the environment)`);
    else merged.set(name, { value, origin: 'environment' });
  }
  for (const [name, value] of Object.entries(options.overrides ?? {})) {
    merged.set(name, { value, origin: 'environment' });
  }

  const config: Partial<Record<keyof Config, unknown>> = {};
  for (const [name, { field, key }] of DECLARATIONS) {
    const raw = merged.get(name);
    if (!raw) {
      problems.push(`${name}: missing from config/default.json`);
      continue;
    }
    // Defaults' relative paths belong to the installed package; an operator's belong to where they ran it.
    const checked = checkValue(name, key, raw, raw.origin === 'default' ? PACKAGE_ROOT : cwd, problems);
    if (checked) config[field] = checked.value;
  }
  if (problems.length) throw new ConfigError(problems);
  checkCrossField(config as Config, problems, options.needsModel ?? true);
  if (problems.length) throw new ConfigError(problems);
  return config as Config;
}

/** Rules that involve more than one key or the file system. */
function checkCrossField(config: Config, problems: string[], needsModel: boolean): void {
  if (!config.tls && !isLoopbackHost(config.host)) {
    problems.push(`VEGKIOSK_TLS: plain HTTP (off) is allowed only on a loopback host, but VEGKIOSK_HOST is ${config.host}`);
  }
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) {
    problems.push('VEGKIOSK_TLS_CERT: VEGKIOSK_TLS_CERT and VEGKIOSK_TLS_KEY must be given together (or both left empty for a self-signed certificate)');
  }
  for (const [key, file] of [['VEGKIOSK_TLS_CERT', config.tlsCert], ['VEGKIOSK_TLS_KEY', config.tlsKey]] as const) {
    if (file && !existsSync(file)) problems.push(`${key}: file not found: ${file}`);
  }
  if (config.mqttCa && !existsSync(config.mqttCa)) problems.push(`VEGKIOSK_MQTT_CA: file not found: ${config.mqttCa}`);
  if (config.mqttCa && !config.mqttUrl.startsWith('mqtts://')) {
    problems.push('VEGKIOSK_MQTT_CA: a CA is used only with an mqtts:// VEGKIOSK_MQTT_URL');
  }
  if (needsModel && !existsSync(config.model)) {
    problems.push(`VEGKIOSK_MODEL: model file not found: ${config.model}`);
  }
  // The default detector may not be installed yet (then the classifier runs alone, logged); one the
  // operator named must exist.
  if (needsModel && config.detection && !existsSync(config.detector) && config.detector !== DEFAULT_DETECTOR) {
    problems.push(`VEGKIOSK_DETECTOR: detector file not found: ${config.detector} (or set VEGKIOSK_DETECTION=off)`);
  }
}

/** The secret-free view of a config for logs and `doctor`: secrets as [set], URL passwords masked. */
export function describeConfig(config: Config): Record<string, unknown> {
  const safe: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(CONFIG_KEYS)) {
    const value = config[field as keyof Config];
    if (key.secret) safe[field] = value ? '[set]' : value;
    else if (typeof value === 'string') safe[field] = redactUrl(value);
    else if (Array.isArray(value)) safe[field] = value.map((v) => (typeof v === 'string' ? redactUrl(v) : v));
    else safe[field] = value;
  }
  return safe;
}

/**
 * Log paths pino blanks for the keys declared secret, by field (a logged Config) and by name (a
 * logged environment or config file), so a new secret key is redacted without touching the logger.
 */
export function secretLogPaths(keys: Readonly<Record<string, KeyDeclaration<unknown>>> = CONFIG_KEYS): string[] {
  return Object.entries(keys)
    .filter(([, key]) => key.secret)
    .flatMap(([field, key]) => [field, `*.${field}`, key.env, `*.${key.env}`]);
}
