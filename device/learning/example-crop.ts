import sharp, { type OutputInfo } from 'sharp';
import type { ModelManifest } from '../inference/model.ts';
import { LearningError } from './learning-error.ts';

/** A region smaller than this on either side is too little to learn a product from. */
const MIN_SIDE = 32;
/** Below this standard deviation (0..255, every channel) the picture is one flat colour: a covered lens, a dark frame. */
const MIN_STDEV = 4;
/** Crops are kept at least this long on their short side, so a later model with a larger input still gets detail. */
const CROP_SIDE = 256;
const CROP_QUALITY = 85;

/**
 * The part of a photo the classifier sees (center-crop models: the centred window of the model's
 * aspect; other resize modes: the whole picture), as a small JPEG. The examples are kept as these
 * crops, so the embedding of a crop is what the model sees and a new model can re-embed them.
 * Throws `no_usable_crop` with the reason when there is nothing to learn from.
 */
export async function exampleCrop(image: Buffer, input: ModelManifest['input']): Promise<Buffer> {
  let oriented: { data: Buffer; info: OutputInfo };
  try {
    oriented = await sharp(image, { failOn: 'error', limitInputPixels: 40_000_000 }).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new LearningError('no_usable_crop', `the photo cannot be decoded (${(err as Error).message})`);
  }
  const { width, height } = oriented.info;
  let left = 0, top = 0, w = width, h = height;
  if (input.resize === 'center-crop') {
    const aspect = input.width / input.height;
    w = Math.min(width, Math.round(height * aspect));
    h = Math.min(height, Math.round(width / aspect));
    left = Math.floor((width - w) / 2);
    top = Math.floor((height - h) / 2);
  }
  if (w < MIN_SIDE || h < MIN_SIDE) {
    throw new LearningError('no_usable_crop', `the photo is too small (${width}x${height}; the classifier's crop needs at least ${MIN_SIDE}x${MIN_SIDE} pixels)`);
  }
  const raw = { raw: { width, height, channels: oriented.info.channels } } as const;
  const region = sharp(oriented.data, raw).extract({ left, top, width: w, height: h });
  const stats = await region.clone().stats();
  if (stats.channels.slice(0, 3).every((c) => c.stdev < MIN_STDEV)) {
    throw new LearningError('no_usable_crop', 'the photo is one flat colour (lens covered, or a dark or blank frame): put the product in view and try again');
  }
  const scale = Math.min(1, CROP_SIDE / Math.min(w, h));
  return region
    .resize(Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale)), { kernel: 'lanczos3' })
    .jpeg({ quality: CROP_QUALITY })
    .toBuffer();
}
