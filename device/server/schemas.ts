import { ROLES, type Role } from '../store/users-store.ts';
import { HttpError } from './errors.ts';

/** One string field of a request body. */
interface StringRule {
  maxLength: number;
  pattern?: RegExp;
  oneOf?: readonly string[];
  optional?: boolean;
}

/**
 * Checks a JSON body against a flat schema of string fields: must be an object, no unknown keys,
 * required fields present, types, lengths, patterns and enums. Messages name the field, never echo values.
 */
function checkObject<K extends string>(value: unknown, rules: Record<K, StringRule>): Record<K, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid('body must be a JSON object');
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) if (!(key in rules)) throw invalid(`unknown field "${key.slice(0, 40)}"`);
  const out = {} as Record<K, string>;
  for (const key of Object.keys(rules) as K[]) {
    const rule = rules[key];
    const v = body[key];
    if (v === undefined && rule.optional) continue;
    if (typeof v !== 'string') throw invalid(`"${key}" must be a string`);
    if (v.length === 0 || v.length > rule.maxLength) throw invalid(`"${key}" must be 1-${rule.maxLength} characters`);
    if (rule.pattern && !rule.pattern.test(v)) throw invalid(`"${key}" has an invalid format`);
    if (rule.oneOf && !rule.oneOf.includes(v)) throw invalid(`"${key}" must be one of ${rule.oneOf.join(', ')}`);
    out[key] = v;
  }
  return out;
}

function invalid(message: string): HttpError {
  return new HttpError(400, 'invalid_body', message);
}

export interface LoginBody { username: string; code: string }
export function checkLogin(value: unknown): LoginBody {
  // Only shape is checked here: a malformed code or unknown name is a failed login (401), not a 400.
  return checkObject(value, { username: { maxLength: 64 }, code: { maxLength: 16 } });
}

export interface NewUserBody { username: string; role: Role }
export function checkNewUser(value: unknown): NewUserBody {
  const body = checkObject(value, { username: { maxLength: 32 }, role: { maxLength: 16, oneOf: ROLES, optional: true } });
  return { username: body.username, role: (body.role ?? 'viewer') as Role };
}

export interface DeleteUserBody { username: string }
export function checkDeleteUser(value: unknown): DeleteUserBody {
  return checkObject(value, { username: { maxLength: 32 } });
}

/** ?limit=N: an integer in 1..max, default when absent. */
export function checkLimit(raw: string | string[] | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const s = Array.isArray(raw) ? raw[0] : raw;
  if (!/^\d{1,6}$/.test(s)) throw new HttpError(400, 'invalid_query', `limit must be an integer 1-${max}`);
  const n = Number(s);
  if (n < 1 || n > max) throw new HttpError(400, 'invalid_query', `limit must be an integer 1-${max}`);
  return n;
}
