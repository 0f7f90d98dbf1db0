import Router from '@koa/router';
import type { Session } from '../auth/sessions.ts';
import { HttpError } from './errors.ts';
import { withoutEmbedding } from '../inference/model.ts';
import { credentialsOf, requireRole } from './http-auth.ts';
import { isLoopbackHost } from '../config/loopback.ts';
import { checkLimit } from './schemas.ts';
import type { ServerContext } from './server-context.ts';
import { readUploadedImage } from './upload.ts';
import { apiStatusBody } from './api-status.ts';

/** Uploads are classified on the same model as the camera; more than this at once would starve it. */
const MAX_CLASSIFY_IN_FLIGHT = 2;

/** /api/status, /api/results, /api/frames/latest.jpg, /api/classify, /api/audit, /metrics. */
export function apiRoutes(sc: ServerContext): Router {
  const router = new Router();
  const { deps } = sc;

  router.get('/api/status', requireRole('viewer'), (ctx) => {
    ctx.body = apiStatusBody(deps.status(), deps.config.dataDir, sc.live.count());
  });

  router.get('/api/results', requireRole('viewer'), (ctx) => {
    const limit = checkLimit(ctx.query.limit, 50, 200);
    ctx.body = { results: sc.results.recent(limit) };
  });

  router.get('/api/frames/latest.jpg', requireRole('viewer'), (ctx) => {
    const jpeg = deps.latestFrameJpeg();
    if (!jpeg) throw new HttpError(404, 'no_frame', 'no frame captured yet');
    ctx.type = 'image/jpeg';
    ctx.body = jpeg;
  });

  let inFlight = 0;
  router.post('/api/classify', requireRole('technician'), async (ctx) => {
    if (inFlight >= MAX_CLASSIFY_IN_FLIGHT) {
      throw new HttpError(429, 'busy', 'classifier busy; retry shortly', { 'Retry-After': '1' });
    }
    inFlight += 1;
    try {
      const image = await readUploadedImage(ctx);
      const started = performance.now();
      let prediction;
      try {
        prediction = await deps.classify(image);
      } catch (err) {
        deps.logger.error({ err }, 'classify failed');
        throw new HttpError(503, 'model_unavailable', 'the model could not classify this image');
      }
      ctx.body = { ...withoutEmbedding(prediction), ms: Math.round((performance.now() - started) * 10) / 10 };
    } finally {
      inFlight -= 1;
    }
  });

  router.get('/api/audit', requireRole('admin'), (ctx) => {
    const limit = checkLimit(ctx.query.limit, 100, 2000);
    ctx.body = { entries: sc.stores.audit.recent(limit) };
  });

  router.get('/metrics', (ctx) => {
    if (!metricsAllowed(ctx.req.socket.remoteAddress, ctx.state.session as Session | null, credentialsOf(ctx.req)?.via)) {
      throw new HttpError(401, 'unauthenticated', 'metrics off the device need a bearer token (Authorization: Bearer …)');
    }
    ctx.type = 'text/plain; version=0.0.4; charset=utf-8';
    ctx.body = sc.metrics.render(deps.status(), sc.live.count());
  });
  return router;
}

/**
 * Prometheus on the kiosk itself scrapes freely (socket address, never X-Forwarded-For); others need a
 * session presented as a bearer token, as a scraper does, not a browser's cookie.
 */
export function metricsAllowed(remoteAddress: string | undefined, session: Session | null, via: 'bearer' | 'cookie' | undefined): boolean {
  return isLoopbackHost(remoteAddress ?? '') || (session !== null && via === 'bearer');
}
