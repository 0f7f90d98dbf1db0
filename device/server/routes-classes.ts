import Router from '@koa/router';
import type Koa from 'koa';
import type { Session } from '../auth/sessions.ts';
import { LearningError } from '../learning/learning-error.ts';
import { readJson } from './body.ts';
import { HttpError } from './errors.ts';
import { requireRole } from './http-auth.ts';
import type { ServerContext } from './server-context.ts';
import type { ClassTeacher } from './server-deps.ts';
import { readUploadedImage } from './upload.ts';

/** Learn requests waiting at once; each runs the model, and the camera must keep its share. */
const MAX_LEARN_IN_FLIGHT = 2;
const EXAMPLE_ID = /^[0-9a-f]{24}$/;

/**
 * /api/classes: the model's and the learned classes (viewer+), example photos to learn from
 * (technician+: an upload, or the camera's current frame), and forgetting a learned class.
 */
export function classRoutes(sc: ServerContext): Router {
  const router = new Router();
  const { deps } = sc;
  const teacher = (): ClassTeacher => {
    if (!deps.learning) throw new HttpError(409, 'learning_unsupported', 'this kiosk was started without learned classes');
    return deps.learning;
  };

  router.get('/api/classes', requireRole('viewer'), (ctx) => {
    ctx.body = { classes: deps.learning?.list() ?? [], learning: deps.learning?.supported ?? false };
  });

  router.get('/api/classes/:label/examples', requireRole('viewer'), (ctx) => {
    ctx.body = learningCall(() => teacher().examples(ctx.params.label!));
  });

  router.get('/api/classes/:label/examples/:id.jpg', requireRole('viewer'), (ctx) => {
    const id = ctx.params.id!;
    const crop = EXAMPLE_ID.test(id) ? teacher().exampleCrop(ctx.params.label!, id) : null;
    if (!crop) throw new HttpError(404, 'not_found', 'no such example');
    ctx.type = 'image/jpeg';
    ctx.body = crop;
  });

  let inFlight = 0;
  router.post('/api/classes/:label/examples', requireRole('technician'), async (ctx) => {
    const learning = teacher();
    if (inFlight >= MAX_LEARN_IN_FLIGHT) throw new HttpError(429, 'busy', 'still learning the previous photos; retry shortly', { 'Retry-After': '1' });
    inFlight += 1;
    try {
      const image = ctx.is('application/json') ? await cameraFrame(ctx, deps.latestFrameJpeg) : await readUploadedImage(ctx);
      const result = await learningCallAsync(() => learning.learn(ctx.params.label!, [image]));
      sc.stores.audit.record({ event: 'class_learned', actor: actorOf(ctx), label: result.label, count: 1, detail: `${result.examples} examples now` });
      ctx.status = 201;
      ctx.body = result;
    } finally {
      inFlight -= 1;
    }
  });

  router.delete('/api/classes/:label', requireRole('technician'), (ctx) => {
    const result = learningCall(() => teacher().forget(ctx.params.label!));
    sc.stores.audit.record({ event: 'class_forgotten', actor: actorOf(ctx), label: result.label, count: result.examples });
    ctx.status = 204;
  });
  return router;
}

/** `{"fromCamera": true}`: the frame the camera delivered last. */
async function cameraFrame(ctx: Koa.Context, latest: () => Buffer | null): Promise<Buffer> {
  await readJson(ctx, (value) => {
    const body = value as Record<string, unknown> | null;
    if (!body || typeof body !== 'object' || Array.isArray(body) || body.fromCamera !== true || Object.keys(body).length !== 1) {
      throw new HttpError(400, 'invalid_request', 'send {"fromCamera": true}, or the photo itself as image/* or multipart field "image"');
    }
    return body;
  });
  const frame = latest();
  if (!frame) throw new HttpError(409, 'no_frame', 'the camera has delivered no frame yet');
  return frame;
}

function actorOf(ctx: Koa.Context): string {
  return (ctx.state.session as Session).username;
}

function asHttpError(err: unknown): unknown {
  return err instanceof LearningError ? new HttpError(err.status, err.code, err.message) : err;
}

function learningCall<R>(fn: () => R): R {
  try {
    return fn();
  } catch (err) {
    throw asHttpError(err);
  }
}

async function learningCallAsync<R>(fn: () => Promise<R>): Promise<R> {
  try {
    return await fn();
  } catch (err) {
    throw asHttpError(err);
  }
}
