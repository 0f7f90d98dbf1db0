import Router from '@koa/router';
import type Koa from 'koa';
import ratelimit from 'koa-ratelimit';
import type { Session } from '../auth/sessions.ts';
import { readJson } from './body.ts';
import { HttpError } from './errors.ts';
import { CLEAR_SESSION_COOKIE, sessionCookie, unauthenticated } from './http-auth.ts';
import { checkLogin } from './schemas.ts';
import type { ServerContext } from './server-context.ts';

const INVALID_LOGIN = new HttpError(401, 'invalid_credentials', 'invalid username or code');

/** POST /api/auth/login, GET /api/auth/session, POST /api/auth/logout. */
export function authRoutes(sc: ServerContext): Router {
  const router = new Router();
  const limiterDb = new Map<unknown, { reset: number }>();
  // koa-ratelimit's memory driver never forgets an IP; sweep expired windows so the map stays small.
  const sweep = setInterval(() => {
    const now = Date.now() / 1000;
    for (const [k, v] of limiterDb) if (v.reset < now) limiterDb.delete(k);
  }, 60_000);
  sweep.unref();

  router.post('/api/auth/login', perIpLimit(sc, limiterDb), async (ctx) => {
    const { username, code } = await readJson(ctx, checkLogin);
    const outcome = await sc.login.login(username, code, ctx.request.ip);
    if (!outcome.ok) {
      if (outcome.reason === 'locked') {
        throw new HttpError(429, 'too_many_attempts', 'too many failed attempts; try again later',
          { 'Retry-After': String(outcome.retryAfterS) });
      }
      throw INVALID_LOGIN;
    }
    const maxAge = Math.max(0, outcome.session.exp - Math.floor(Date.now() / 1000));
    ctx.set('Set-Cookie', sessionCookie(outcome.token, maxAge));
    ctx.body = {
      user: outcome.user.username,
      role: outcome.user.role,
      expiresAt: new Date(outcome.session.exp * 1000).toISOString(),
      token: outcome.token,
    };
  });

  // Who the cookie belongs to: lets a reloaded or new tab pick up its session without the page
  // keeping anything in web storage. "Nobody" is an answer here, not an error (200, user null).
  router.get('/api/auth/session', (ctx) => {
    const session = ctx.state.session as Session | null;
    ctx.body = session
      ? { user: session.username, role: session.role, expiresAt: new Date(session.exp * 1000).toISOString() }
      : { user: null, role: null, expiresAt: null };
  });

  router.post('/api/auth/logout', async (ctx) => {
    const session = ctx.state.session as Session | null;
    if (!session) throw unauthenticated();
    sc.sessions.revoke(session);
    sc.live.closeSession(session.jti);
    sc.stores.audit.record({ event: 'logout', actor: session.username, user: session.username, ip: ctx.request.ip });
    ctx.set('Set-Cookie', CLEAR_SESSION_COOKIE);
    ctx.status = 204;
  });
  return router;
}

/** koa-ratelimit per client IP, answered in the API's JSON error shape with Retry-After. */
function perIpLimit(sc: ServerContext, db: Map<unknown, unknown>): Koa.Middleware {
  const limiter = ratelimit({
    driver: 'memory',
    db,
    duration: sc.policy.loginRateWindowMs,
    max: sc.policy.loginRateMax,
    id: (ctx) => ctx.request.ip,
    disableHeader: true,
  });
  return async (ctx, next) => {
    await limiter(ctx, next);
    const limited = ctx.state.rateLimit as { after: number } | undefined;
    if (ctx.status === 429 && limited) {
      sc.metrics.loginFailed();
      throw new HttpError(429, 'rate_limited', 'too many login attempts from this address; try again later',
        { 'Retry-After': String(Math.max(1, limited.after)) });
    }
  };
}
