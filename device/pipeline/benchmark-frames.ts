import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { PACKAGE_ROOT } from '../config/load-config.ts';

/** Where the real photos live beside a development checkout (never inside the project). */
export const SHARED_PHOTOS_DIR = resolve(PACKAGE_ROOT, '../shared/data/fruits-vegetables-yolo');

export interface BenchFrames {
  jpegs: Buffer[];
  width: number;
  height: number;
  /** Where the pictures came from, for the report. */
  origin: string;
}

/**
 * 1280x720 baseline JPEGs with 4:2:0 chroma at quality 85, which is what a USB webcam's MJPEG mode
 * delivers. Real produce photos are used when the shared data folder is beside the checkout, because
 * decode cost depends on picture content; otherwise a textured synthetic scene stands in.
 */
export async function makeBenchFrames(count = 8, width = 1280, height = 720): Promise<BenchFrames> {
  const photosDir = join(SHARED_PHOTOS_DIR, 'valid/images');
  const encode = (img: Sharp) => img.resize(width, height, { fit: 'cover' }).jpeg({ quality: 85, chromaSubsampling: '4:2:0', mozjpeg: false }).toBuffer();
  if (existsSync(photosDir)) {
    const files = readdirSync(photosDir).filter((f) => /\.jpe?g$/i.test(f)).sort().slice(0, count);
    if (files.length) {
      const jpegs = await Promise.all(files.map((f) => encode(sharp(join(photosDir, f)))));
      return { jpegs, width, height, origin: `${files.length} photos from ${photosDir}, scaled` };
    }
  }
  const jpegs: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    // Blurred noise has the spatial frequencies of a real scene; pure noise or flat colour would not.
    const noise = await sharp({ create: { width: width / 4, height: height / 4, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 110 + i * 5, sigma: 60 } } })
      .blur(1.2)
      .png()
      .toBuffer();
    jpegs.push(await encode(sharp(noise)));
  }
  return { jpegs, width, height, origin: 'synthetic textured frames (../shared/data not found)' };
}
