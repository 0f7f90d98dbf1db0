import Koa from 'koa';
import helmet from 'koa-helmet';
import type { Logger } from '../logger.ts';
import { HttpError } from './errors.ts';

/** Content-Security-Policy for the dashboard: scripts and styles only from the kiosk itself, no inline script. */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:', 'blob:'],
  // CSP3 browsers treat 'self' as covering ws:/wss: to the same host, so the socket needs no wildcard.
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  upgradeInsecureRequests: null,
};

/**
 * The Koa application without routes: error shaping, security headers and API cache policy. Routes
 * are mounted by the caller so each group lives in its own file.
 */
export function createBaseApp(logger: Logger): Koa {
  const app = new Koa();
  // Koa would print errors with stacks to stderr; the error middleware below logs them instead.
  app.silent = true;
  app.use(errorMiddleware(logger));
  app.use(helmet({
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
  }));
  app.use(async (ctx, next) => {
    // API answers carry live data and session state: never cache them, in browsers or proxies.
    if (ctx.path.startsWith('/api/') || ctx.path === '/healthz' || ctx.path === '/metrics') {
      ctx.set('Cache-Control', 'no-store');
    }
    await next();
  });
  return app;
}

/** Every failure becomes `{"error":{"code","message"}}`; unexpected errors are logged and answered generically. */
function errorMiddleware(logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        throw new HttpError(404, 'not_found', 'no such route');
      }
    } catch (err) {
      let status = 500;
      let code = 'internal';
      let message = 'internal error';
      if (err instanceof HttpError) {
        ({ status, code, message } = err);
        ctx.set(err.headers);
      } else if (isClientError(err)) {
        // Errors Koa itself raises for malformed requests (ctx.throw, http-errors) with status 4xx.
        status = err.status;
        code = status === 413 ? 'too_large' : 'bad_request';
        message = status === 413 ? 'request body too large' : 'bad request';
      } else if (isStorageError(err)) {
        // A full or read-only data disk: the service is up, but this request could not be recorded.
        status = 503;
        code = 'storage_unavailable';
        message = 'the device cannot write its data files (disk full or read-only); see /healthz';
        logger.warn({ code: err.code, method: ctx.method, path: ctx.path }, 'request refused: data disk not writable');
      } else {
        logger.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
      }
      ctx.status = status;
      ctx.type = 'application/json';
      ctx.body = { error: { code, message } };
    }
  };
}

function isStorageError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS';
}

function isClientError(err: unknown): err is { status: number } {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
