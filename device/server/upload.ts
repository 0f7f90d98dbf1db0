import type Koa from 'koa';
import sharp from 'sharp';
import { IMAGE_LIMIT, readBody } from './body.ts';
import { HttpError } from './errors.ts';
import { multipartField } from './multipart.ts';

const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp']);
/** 40 megapixels: far beyond any camera photo a technician uploads, well short of a decompression bomb. */
const MAX_PIXELS = 40_000_000;

/**
 * The uploaded image of POST /api/classify: a raw `image/*` body or the multipart field `image`, at
 * most 10 MB, and really a JPEG, PNG or WebP — decided by decoding it with sharp, not by the file
 * name or the declared type.
 */
export async function readUploadedImage(ctx: Koa.Context): Promise<Buffer> {
  let image: Buffer;
  if (ctx.is('multipart/form-data')) {
    // Multipart framing adds a little to the file itself.
    const body = await readBody(ctx, IMAGE_LIMIT + 64 * 1024);
    const field = multipartField(body, ctx.get('Content-Type'), 'image');
    if (!field) throw new HttpError(400, 'missing_image', 'multipart body has no "image" field');
    if (field.length > IMAGE_LIMIT) throw new HttpError(413, 'too_large', `image exceeds ${IMAGE_LIMIT} bytes`);
    image = field;
  } else if (ctx.is('image/*')) {
    image = await readBody(ctx, IMAGE_LIMIT);
  } else {
    throw new HttpError(415, 'unsupported_media_type', 'send the image as image/* or multipart/form-data field "image"');
  }
  if (image.length === 0) throw new HttpError(400, 'missing_image', 'empty image');
  await checkDecodes(image);
  return image;
}

async function checkDecodes(image: Buffer): Promise<void> {
  const unsupported = new HttpError(415, 'unsupported_image', 'the upload is not a readable JPEG, PNG or WebP image');
  try {
    const options = { failOn: 'error' as const, limitInputPixels: MAX_PIXELS };
    const meta = await sharp(image, options).metadata();
    if (!meta.format || !ACCEPTED_FORMATS.has(meta.format)) throw unsupported;
    // A full decode (to a thumbnail, cheap thanks to shrink-on-load) catches truncated or corrupt data.
    await sharp(image, options).resize(32, 32, { fit: 'inside' }).raw().toBuffer();
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw unsupported;
  }
}
