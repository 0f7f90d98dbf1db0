import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CameraSpecError, parseCameraSpec, redactUrl } from '../camera/camera-spec.ts';
import { ConfigError } from './config-error.ts';
import { CONFIG_FIELDS, type Config } from './config.ts';
import { isLoopbackHost } from './loopback.ts';

/** The package root: defaults' relative paths (model, data dir) are anchored here, not at the cwd. */
export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SCHEMA_PATH = resolve(PACKAGE_ROOT, 'config/schema.json');
const DEFAULTS_PATH = resolve(PACKAGE_ROOT, 'config/default.json');

/** Exit status for bad configuration (sysexits EX_CONFIG), which systemd and scripts can tell apart. */
export const EXIT_CONFIG = 78;

/** Environment variables that steer loading itself and are not configuration keys. */
const LOADER_VARIABLES = new Set(['VEGKIOSK_CONFIG']);

interface PropertySchema {
  type: 'string' | 'integer';
  enum?: string[];
  pattern?: string;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  description?: string;
  secret?: boolean;
}

export interface ConfigSchema {
  properties: Record<string, PropertySchema>;
}

type Origin = 'default' | 'file' | 'environment';
type RawValue = { value: unknown; origin: Origin };

export function readSchema(): ConfigSchema {
  return JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as ConfigSchema;
}

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

/** Checks one value against its schema entry; environment strings are parsed for integer keys. */
function checkValue(key: string, raw: RawValue, prop: PropertySchema, problems: string[]): string | number | undefined {
  const where = raw.origin === 'environment' ? ' (from the environment)' : raw.origin === 'file' ? ' (from VEGKIOSK_CONFIG)' : '';
  // A camera URL may carry the camera's password.
  const shown = prop.secret ? '' : ` (got ${describe(typeof raw.value === 'string' ? redactUrl(raw.value) : raw.value)})`;
  if (prop.type === 'integer') {
    let n: number;
    if (typeof raw.value === 'number') n = raw.value;
    else if (raw.origin === 'environment' && typeof raw.value === 'string' && /^-?\d+$/.test(raw.value.trim())) n = Number(raw.value.trim());
    else {
      problems.push(`${key}: must be an integer${shown}${where}`);
      return undefined;
    }
    if (!Number.isInteger(n)) {
      problems.push(`${key}: must be an integer${shown}${where}`);
      return undefined;
    }
    if ((prop.minimum !== undefined && n < prop.minimum) || (prop.maximum !== undefined && n > prop.maximum)) {
      problems.push(`${key}: must be between ${prop.minimum} and ${prop.maximum}${shown}${where}`);
      return undefined;
    }
    return n;
  }
  if (typeof raw.value !== 'string') {
    problems.push(`${key}: must be a string${shown}${where}`);
    return undefined;
  }
  const s = raw.value;
  if (prop.enum && !prop.enum.includes(s)) {
    problems.push(`${key}: must be one of ${prop.enum.join(', ')}${shown}${where}`);
    return undefined;
  }
  if (prop.minLength !== undefined && s.length < prop.minLength) {
    problems.push(`${key}: must not be empty${where}`);
    return undefined;
  }
  if (prop.pattern && !new RegExp(prop.pattern).test(s)) {
    problems.push(`${key}: not a valid value${shown}${where}; expected ${prop.description ?? prop.pattern}`);
    return undefined;
  }
  return s;
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
 * validates every key, and returns a typed Config or throws ConfigError listing every problem.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const schema = readSchema();
  const problems: string[] = [];
  const merged = new Map<string, RawValue>();

  for (const [key, value] of Object.entries(readJsonObject(DEFAULTS_PATH, 'defaults file', problems))) {
    merged.set(key, { value, origin: 'default' });
  }
  const extraPath = env.VEGKIOSK_CONFIG;
  if (extraPath) {
    for (const [key, value] of Object.entries(readJsonObject(resolve(cwd, extraPath), 'config file', problems))) {
      if (!(key in schema.properties)) problems.push(`${key}: unknown configuration key (in ${extraPath})`);
      else merged.set(key, { value, origin: 'file' });
    }
  }
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('VEGKIOSK_') || LOADER_VARIABLES.has(key) || value === undefined) continue;
    if (!(key in schema.properties)) problems.push(`${key}: unknown configuration key (from the environment)`);
    else merged.set(key, { value, origin: 'environment' });
  }
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    merged.set(key, { value, origin: 'environment' });
  }

  const values: Record<string, string | number> = {};
  const origins: Record<string, Origin> = {};
  for (const [key, prop] of Object.entries(schema.properties)) {
    const raw = merged.get(key);
    if (!raw) {
      problems.push(`${key}: missing from config/default.json`);
      continue;
    }
    const checked = checkValue(key, raw, prop, problems);
    if (checked !== undefined) {
      values[key] = checked;
      origins[key] = raw.origin;
    }
  }
  if (problems.length) throw new ConfigError(problems);

  // Defaults' relative paths belong to the installed package; an operator's belong to where they ran it.
  const path = (key: string): string => {
    const p = String(values[key]);
    if (p === '' || isAbsolute(p)) return p;
    return resolve(origins[key] === 'default' ? PACKAGE_ROOT : cwd, p);
  };
  const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter(Boolean);

  const config: Config = {
    host: String(values.VEGKIOSK_HOST),
    port: Number(values.VEGKIOSK_PORT),
    dataDir: path('VEGKIOSK_DATA_DIR'),
    tls: values.VEGKIOSK_TLS === 'on',
    tlsCert: path('VEGKIOSK_TLS_CERT'),
    tlsKey: path('VEGKIOSK_TLS_KEY'),
    camera: String(values.VEGKIOSK_CAMERA),
    cameraWidth: Number(values.VEGKIOSK_CAMERA_WIDTH),
    cameraHeight: Number(values.VEGKIOSK_CAMERA_HEIGHT),
    cameraFps: Number(values.VEGKIOSK_CAMERA_FPS),
    cameraStallMs: Number(values.VEGKIOSK_CAMERA_STALL_MS),
    model: path('VEGKIOSK_MODEL'),
    executionProviders: list(String(values.VEGKIOSK_EXECUTION_PROVIDERS)),
    inferenceThreads: Number(values.VEGKIOSK_INFERENCE_THREADS),
    jwtSecret: String(values.VEGKIOSK_JWT_SECRET),
    allowedOrigins: list(String(values.VEGKIOSK_ALLOWED_ORIGINS)),
    logLevel: String(values.VEGKIOSK_LOG_LEVEL),
  };
  checkCrossField(config, problems, options.needsModel ?? true);
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/** Rules that involve more than one key or the file system. */
function checkCrossField(config: Config, problems: string[], needsModel: boolean): void {
  if (!config.tls && !isLoopbackHost(config.host)) {
    problems.push(`VEGKIOSK_TLS: plain HTTP (off) is allowed only on a loopback host, but VEGKIOSK_HOST is ${config.host}`);
  }
  try {
    parseCameraSpec(config.camera);
  } catch (err) {
    if (!(err instanceof CameraSpecError)) throw err;
    problems.push(`VEGKIOSK_CAMERA: ${err.detail}`);
  }
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) {
    problems.push('VEGKIOSK_TLS_CERT: VEGKIOSK_TLS_CERT and VEGKIOSK_TLS_KEY must be given together (or both left empty for a self-signed certificate)');
  }
  for (const [key, file] of [['VEGKIOSK_TLS_CERT', config.tlsCert], ['VEGKIOSK_TLS_KEY', config.tlsKey]] as const) {
    if (file && !existsSync(file)) problems.push(`${key}: file not found: ${file}`);
  }
  if (config.jwtSecret && Buffer.byteLength(config.jwtSecret, 'utf8') < 32) {
    problems.push('VEGKIOSK_JWT_SECRET: too weak: must be at least 32 bytes (leave empty to have one generated)');
  }
  if (needsModel && !existsSync(config.model)) {
    problems.push(`VEGKIOSK_MODEL: model file not found: ${config.model}`);
  }
  const bad = config.allowedOrigins.filter((o) => !/^https?:\/\/[^/\s]+$/.test(o));
  if (bad.length) problems.push(`VEGKIOSK_ALLOWED_ORIGINS: not an origin (scheme://host[:port], no path): ${bad.join(', ')}`);
  if (config.executionProviders.includes('auto') && config.executionProviders.length > 1) {
    problems.push('VEGKIOSK_EXECUTION_PROVIDERS: "auto" cannot be combined with other providers');
  }
}

/** The secret-free view of a config for logs and `doctor`. */
export function describeConfig(config: Config): Record<string, unknown> {
  const safe: Record<string, unknown> = { ...config, camera: redactUrl(config.camera) };
  const { properties } = readSchema();
  for (const [key, field] of Object.entries(CONFIG_FIELDS)) {
    if (properties[key]?.secret && safe[field]) safe[field] = '[set]';
  }
  return safe;
}
