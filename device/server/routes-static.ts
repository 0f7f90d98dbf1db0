import Router from '@koa/router';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the dashboard's browser files live in the package. */
export const DASHBOARD_ROOT = fileURLToPath(new URL('../../dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.woff2': 'font/woff2',
};

/**
 * GET / and the dashboard's static files. Only listed file types, only inside the dashboard
 * directory (symlinks resolved, no dot-files), so neither source nor data files can be fetched.
 */
export function staticRoutes(root = DASHBOARD_ROOT): Router {
  const router = new Router();
  router.get(/^\/(?!api\/|ws$|metrics$|healthz$)[^\0]*$/, (ctx, next) => {
    if (!existsSync(root)) return next();
    let rel: string;
    try {
      rel = ctx.path === '/' ? 'index.html' : decodeURIComponent(ctx.path.slice(1));
    } catch {
      return next();
    }
    const type = TYPES[extname(rel).toLowerCase()];
    if (!type || rel.split('/').some((part) => part.startsWith('.') || part === '')) return next();
    let file: string;
    try {
      const base = realpathSync(root);
      file = realpathSync(join(base, rel));
      if (!file.startsWith(base + sep) || !statSync(file).isFile()) return next();
    } catch {
      return next();
    }
    ctx.type = type;
    // index.html must pick up new asset versions at once; assets may be cached briefly.
    ctx.set('Cache-Control', rel === 'index.html' ? 'no-cache' : 'public, max-age=300');
    ctx.body = readFileSync(file);
  });
  return router;
}
