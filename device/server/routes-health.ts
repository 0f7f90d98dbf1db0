import Router from '@koa/router';
import type { ServerDeps } from './server-deps.ts';
import { redactUrlsIn } from '../camera/camera-spec.ts';
import { publicCameraHealth } from './redact.ts';

/** GET /healthz — for anyone (load balancers, systemd watchdogs, the technician): no secrets. */
export function healthRoutes(deps: Pick<ServerDeps, 'status'>): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    const s = deps.status();
    ctx.body = {
      status: s.status,
      camera: publicCameraHealth(s.camera),
      model: s.model,
      ep: s.ep,
      uptimeS: Math.round(s.uptimeS),
      // Beyond the SPEC's keys, and only where there is something to say: why not ok, in words
      // (camera errors, stale results, a full or read-only data disk), and the data disk itself.
      ...(s.reasons?.length ? { reasons: s.reasons.map(redactUrlsIn) } : {}),
      ...(s.storage ? { storage: { state: s.storage.state, freeBytes: s.storage.freeBytes, totalBytes: s.storage.totalBytes, lastError: s.storage.lastError } } : {}),
    };
    // A failing service answers 503 so simple probes (curl -f) notice without parsing JSON.
    if (s.status === 'failing') ctx.status = 503;
  });
  return router;
}
