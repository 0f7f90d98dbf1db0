import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';
import type { Session, Sessions } from '../auth/sessions.ts';
import { roleAtLeast } from '../auth/sessions.ts';
import type { Role } from '../store/users-store.ts';
import { HttpError } from './errors.ts';
import { isAllowedOrigin, isListedOrigin } from './origin.ts';

export const SESSION_COOKIE = 'vegkiosk_session';
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Query parameters that look like credentials; URLs end up in logs, history and Referer headers. */
const CREDENTIAL_PARAMS = new Set(['token', 'access_token', 'accesstoken', 'jwt', 'bearer', 'auth', 'authorization', 'session', 'id_token']);
const JWT_SHAPE = /^eyJ[\w-]+\.[\w-]+\.[\w-]*$/;

export interface Credentials {
  token: string;
  via: 'bearer' | 'cookie';
}

/** Bearer header first (programs), else the session cookie (browsers). */
export function credentialsOf(req: IncomingMessage): Credentials | null {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    return { token: m ? m[1] : '', via: 'bearer' };
  }
  const token = cookieValue(req.headers.cookie, SESSION_COOKIE);
  return token ? { token, via: 'cookie' } : null;
}

export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function hasCredentialInQuery(search: string): boolean {
  const params = new URLSearchParams(search);
  for (const [key, value] of params) {
    if (CREDENTIAL_PARAMS.has(key.toLowerCase()) || JWT_SHAPE.test(value)) return true;
  }
  return false;
}

export function sessionCookie(token: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${maxAgeS}; HttpOnly; Secure; SameSite=Strict`;
}

export const CLEAR_SESSION_COOKIE = `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;

/** Refuses credentials in the query string on every route, before anything else looks at them. */
export function refuseQueryTokens(): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.querystring && hasCredentialInQuery(ctx.querystring)) {
      throw new HttpError(400, 'token_in_query', 'credentials are not accepted in the URL; use the Authorization header or the session cookie');
    }
    await next();
  };
}

/**
 * CORS for the operator's allow-list and CSRF defence: a state-changing request from a browser must
 * come from an allowed Origin. A cookie-authenticated one without any Origin is refused too (modern
 * browsers always send it), while programs using a bearer token and no Origin pass.
 */
export function originPolicy(secure: boolean, allowList: string[]): Koa.Middleware {
  return async (ctx, next) => {
    const origin = ctx.get('Origin');
    if (origin && isListedOrigin(origin, allowList)) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Credentials', 'true');
    }
    ctx.vary('Origin');
    if (ctx.method === 'OPTIONS' && origin) {
      if (!isAllowedOrigin(origin, ctx.req, secure, allowList)) throw new HttpError(403, 'origin_forbidden', 'origin not allowed');
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, DELETE');
      ctx.set('Access-Control-Allow-Headers', 'Content-Type, Authorization');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    if (STATE_CHANGING.has(ctx.method)) {
      if (origin) {
        if (!isAllowedOrigin(origin, ctx.req, secure, allowList)) throw new HttpError(403, 'origin_forbidden', 'origin not allowed');
      } else if (credentialsOf(ctx.req)?.via === 'cookie') {
        throw new HttpError(403, 'origin_forbidden', 'origin required for cookie-authenticated requests');
      }
    }
    await next();
  };
}

/**
 * Resolves the caller's session (or null) into ctx.state.session. An invalid, expired or revoked
 * credential is simply no session: public routes still answer, protected ones give 401.
 */
export function authenticate(sessions: Sessions): Koa.Middleware {
  return async (ctx, next) => {
    const creds = credentialsOf(ctx.req);
    const session: Session | null = creds ? sessions.verify(creds.token) : null;
    ctx.state.session = session;
    await next();
  };
}

export function requireRole(role: Role): Koa.Middleware {
  return async (ctx, next) => {
    const session = ctx.state.session as Session | null;
    if (!session) throw unauthenticated();
    if (!roleAtLeast(session.role, role)) throw new HttpError(403, 'forbidden', `requires the ${role} role`);
    await next();
  };
}

export function unauthenticated(): HttpError {
  return new HttpError(401, 'unauthenticated', 'sign in first (session cookie or bearer token)');
}
