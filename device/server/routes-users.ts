import Router from '@koa/router';
import type Koa from 'koa';
import type { Session } from '../auth/sessions.ts';
import { UserAdminError } from '../auth/user-admin.ts';
import { readJson } from './body.ts';
import { HttpError } from './errors.ts';
import { requireRole } from './http-auth.ts';
import { checkDeleteUser, checkNewUser } from './schemas.ts';
import type { ServerContext } from './server-context.ts';

const STATUS_OF: Record<UserAdminError['code'], number> = { invalid: 400, exists: 409, not_found: 404, last_admin: 409 };

/** GET/POST/DELETE /api/users (admin). */
export function userRoutes(sc: ServerContext): Router {
  const router = new Router();
  router.use('/api/users', requireRole('admin'));

  router.get('/api/users', (ctx) => {
    ctx.body = { users: sc.admin.list() };
  });

  router.post('/api/users', async (ctx) => {
    const { username, role } = await readJson(ctx, checkNewUser);
    const { user, otpauthUri } = adminCall(() => sc.admin.enroll(username, role, actorOf(ctx)));
    ctx.status = 201;
    // The URI carries the TOTP secret: shown this once, never retrievable again.
    ctx.body = { ...user, otpauthUri };
  });

  const remove = (ctx: Koa.Context, username: string) => {
    adminCall(() => sc.admin.remove(username, actorOf(ctx)));
    sc.live.closeUser(username);
    ctx.status = 204;
  };
  router.delete('/api/users/:username', (ctx) => remove(ctx, ctx.params.username));
  router.delete('/api/users', async (ctx) => remove(ctx, (await readJson(ctx, checkDeleteUser)).username));
  return router;
}

function actorOf(ctx: Koa.Context): string {
  return (ctx.state.session as Session).username;
}

function adminCall<R>(fn: () => R): R {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UserAdminError) throw new HttpError(STATUS_OF[err.code], err.code, err.message);
    throw err;
  }
}
