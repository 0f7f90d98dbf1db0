import sharp from 'sharp';
import type { RawImage } from '../camera/frame-source.ts';
import type { ImageInput } from './model.ts';
import { ImageInputError } from './preprocess.ts';

/** A box normalised 0..1 to the image, [x1, y1, x2, y2]. */
export type NormalisedBox = readonly [number, number, number, number];

/**
 * Context kept around each box, as a share of the box's own width and height per side. Detector boxes
 * hug the item; a classifier trained on whole photos sees a little of what surrounds it, and a box
 * cut a few pixels short still keeps the whole item.
 */
export const CROP_MARGIN = 0.1;

export interface CropOptions {
  /** The side (px) the classifier wants: the frame is decoded just large enough for it. */
  targetSide: number;
  margin?: number;
}

/** `box` widened by `margin` of its size on every side, clamped to the picture, in pixels of a w×h image. */
export function cropRect(box: NormalisedBox, w: number, h: number, margin = CROP_MARGIN): { left: number; top: number; width: number; height: number } {
  const bw = box[2] - box[0];
  const bh = box[3] - box[1];
  // Rounded off first: 0.55 * 100 is 55.000000000000007 in floating point, which must not take a 56th column.
  const px = (v: number, size: number) => Math.round(v * size * 1e6) / 1e6;
  const x1 = Math.max(0, Math.floor(px(box[0] - bw * margin, w)));
  const y1 = Math.max(0, Math.floor(px(box[1] - bh * margin, h)));
  const x2 = Math.min(w, Math.ceil(px(box[2] + bw * margin, w)));
  const y2 = Math.min(h, Math.ceil(px(box[3] + bh * margin, h)));
  return { left: x1, top: y1, width: Math.max(1, x2 - x1), height: Math.max(1, y2 - y1) };
}

/**
 * The scale (at most 1) the frame needs for its smallest crop to reach `targetSide` pixels on its
 * short side, so a 720p frame with large items decodes at 1/2 or 1/4 through JPEG shrink-on-load.
 */
export function decodeScale(boxes: readonly NormalisedBox[], srcW: number, srcH: number, opts: CropOptions): number {
  let scale = 0;
  for (const box of boxes) {
    const r = cropRect(box, srcW, srcH, opts.margin ?? CROP_MARGIN);
    scale = Math.max(scale, opts.targetSide / Math.max(1, Math.min(r.width, r.height)));
  }
  return Math.min(1, scale);
}

/** Rows `rect` of a packed RGB(A) image, copied out (no libvips trip: a crop is a few row copies). */
function extract(px: RawImage, rect: { left: number; top: number; width: number; height: number }): RawImage {
  const { channels } = px;
  const rowBytes = rect.width * channels;
  const out = Buffer.allocUnsafe(rowBytes * rect.height);
  for (let y = 0; y < rect.height; y++) {
    const from = ((rect.top + y) * px.width + rect.left) * channels;
    px.data.copy(out, y * rowBytes, from, from + rowBytes);
  }
  return { data: out, width: rect.width, height: rect.height, channels };
}

/**
 * The pixels of each box (with its context margin) cut from the frame itself, not from a model's
 * letterboxed tensor: the frame is decoded once, upright, just large enough for the smallest crop,
 * and each crop is then handed to the classifier's own preprocessing.
 */
export async function itemCrops(image: ImageInput, size: { width: number; height: number }, boxes: readonly NormalisedBox[], opts: CropOptions): Promise<RawImage[]> {
  if (!boxes.length) return [];
  let frame: RawImage;
  if (Buffer.isBuffer(image)) {
    const scale = decodeScale(boxes, size.width, size.height, opts);
    const width = Math.max(1, Math.round(size.width * scale));
    const height = Math.max(1, Math.round(size.height * scale));
    try {
      const { data, info } = await sharp(image, { failOn: 'error' }).autoOrient()
        .resize(width, height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true })
        .removeAlpha().raw().toBuffer({ resolveWithObject: true });
      frame = { data, width: info.width, height: info.height, channels: info.channels as 3 | 4 };
    } catch (err) {
      throw new ImageInputError(`cannot decode image: ${(err as Error).message}`);
    }
  } else {
    frame = image;
  }
  return boxes.map((box) => extract(frame, cropRect(box, frame.width, frame.height, opts.margin ?? CROP_MARGIN)));
}
