// The kit a configuration key is declared with (see config.ts). One declaration gives the key's
// environment name, JSON type, default, description, whether it is a secret, and the parser that
// turns what an operator wrote into the typed value the service receives; the loader, the logged
// view of the configuration, config/schema.json, config/default.json and .env.example all read it.
import { isAbsolute, resolve } from 'node:path';

/** Environment variable names are the key names everywhere (files, environment, problems). */
export type EnvName = `VEGKIOSK_${string}`;

/**
 * A key's parser refuses a value. `reason` follows "<KEY>: " in the problem line; the loader adds
 * the value (unless `showValue` is false or the key is secret) and where it came from.
 */
export class InvalidValue extends Error {
  readonly showValue: boolean;
  readonly expected: string | undefined;

  constructor(readonly reason: string, options: { showValue?: boolean; expected?: string } = {}) {
    super(reason);
    this.name = 'InvalidValue';
    this.showValue = options.showValue ?? true;
    this.expected = options.expected;
  }
}

export interface ParseContext {
  /** Where a relative path is taken from: the package for defaults, the working directory for an operator's values. */
  baseDir: string;
}

export interface KeyDeclaration<T> {
  readonly env: EnvName;
  /** One line for .env.example and the schema: what the key does, and what empty means if it may be empty. */
  readonly description: string;
  /** The type in JSON files and the schema; environment strings are converted to it. */
  readonly json: 'string' | 'integer';
  readonly default: string | number;
  /** Never echoed in problems, shown as [set] in the logged configuration, redacted from every log line. */
  readonly secret: boolean;
  /** JSON Schema words beyond the type (enum, minimum, maximum, minLength), for editors and config/schema.json. */
  readonly schema: Readonly<Record<string, unknown>>;
  /** Gets a value already of the `json` type; throws InvalidValue. */
  parse(value: string | number, context: ParseContext): T;
}

/** The typed value a declaration yields. */
export type ValueOf<D> = D extends KeyDeclaration<infer T> ? T : never;

interface Common {
  env: EnvName;
  description: string;
  secret?: boolean;
}

/** A whole number within [min, max]. */
export function integer(d: Common & { default: number; min: number; max: number }): KeyDeclaration<number> {
  return {
    env: d.env, description: d.description, json: 'integer', default: d.default, secret: d.secret ?? false,
    schema: { minimum: d.min, maximum: d.max },
    parse(value) {
      const n = Number(value);
      if (n < d.min || n > d.max) throw new InvalidValue(`must be between ${d.min} and ${d.max}`);
      return n;
    },
  };
}

function nonEmpty(s: string): void {
  if (s.length === 0) throw new InvalidValue('must not be empty', { showValue: false });
}

/**
 * A string, optionally required to be non-empty, and optionally read by `parse` into something
 * richer (a list, a validated camera value). `parse` throws InvalidValue, or the key's own error
 * converted to one.
 */
export function text(d: Common & { default: string; nonEmpty?: boolean }): KeyDeclaration<string>;
export function text<T>(d: Common & { default: string; nonEmpty?: boolean; parse: (s: string) => T }): KeyDeclaration<T>;
export function text<T>(d: Common & { default: string; nonEmpty?: boolean; parse?: (s: string) => T }): KeyDeclaration<T> {
  return {
    env: d.env, description: d.description, json: 'string', default: d.default, secret: d.secret ?? false,
    schema: d.nonEmpty ? { minLength: 1 } : {},
    parse(value) {
      const s = String(value);
      if (d.nonEmpty) nonEmpty(s);
      return d.parse ? d.parse(s) : (s as T);
    },
  };
}

/** One of a fixed set of words; the type is their union. */
export function oneOf<const V extends string>(d: Common & { default: NoInfer<V>; values: readonly V[] }): KeyDeclaration<V> {
  return {
    env: d.env, description: d.description, json: 'string', default: d.default, secret: d.secret ?? false,
    schema: { enum: [...d.values] },
    parse(value) {
      const s = String(value);
      if (!(d.values as readonly string[]).includes(s)) throw new InvalidValue(`must be one of ${d.values.join(', ')}`);
      return s as V;
    },
  };
}

/** `on` or `off`, read as a boolean. */
export function onOff(d: Common & { default: 'on' | 'off' }): KeyDeclaration<boolean> {
  const word = oneOf({ ...d, values: ['on', 'off'] });
  return { ...word, parse: (value, context) => word.parse(value, context) === 'on' };
}

/**
 * A file or directory. A relative default belongs to the installed package, a relative path an
 * operator gives belongs to where they ran the command; empty stays empty (meaning "none").
 */
export function path(d: Common & { default: string; nonEmpty?: boolean }): KeyDeclaration<string> {
  const plain = text(d);
  return {
    ...plain,
    parse(value, context) {
      const p = plain.parse(value, context);
      if (p === '' || isAbsolute(p)) return p;
      return resolve(context.baseDir, p);
    },
  };
}
