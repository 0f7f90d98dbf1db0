import type Koa from 'koa';
import { HttpError } from './errors.ts';

export const JSON_BODY_LIMIT = 16 * 1024;
export const IMAGE_LIMIT = 10 * 1024 * 1024;

/**
 * Reads the request body, refusing more than `limit` bytes: up front from Content-Length, and while
 * streaming for chunked bodies, so an oversized upload is never buffered whole.
 */
export async function readBody(ctx: Koa.Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('Content-Length') || NaN);
  if (declared > limit) throw tooLarge(ctx, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(ctx, limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(ctx: Koa.Context, limit: number): HttpError {
  // The rest of the upload is not read; closing the connection stops the client sending it.
  ctx.set('Connection', 'close');
  return new HttpError(413, 'too_large', `request body exceeds ${limit} bytes`);
}

/** A JSON object body of at most JSON_BODY_LIMIT bytes, checked against `check` (which throws 400s). */
export async function readJson<T>(ctx: Koa.Context, check: (value: unknown) => T): Promise<T> {
  if (!ctx.is('application/json')) throw new HttpError(415, 'unsupported_media_type', 'send application/json');
  const raw = await readBody(ctx, JSON_BODY_LIMIT);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'invalid_json', 'body is not valid JSON');
  }
  return check(value);
}
