import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

/**
 * A photo of one "product" for the cosine test classifier (which sees the mean colour): the colour
 * with pixel noise, so it is not a flat frame that learning refuses. Deterministic per `seed`.
 */
export async function productPhoto(rgb: readonly [number, number, number], seed = 1, width = 160, height = 120): Promise<Buffer> {
  let s = seed >>> 0;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const data = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.max(0, Math.min(255, Math.round(rgb[c]! + (rand() - 0.5) * 50)));
  }
  return sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** Writes `count` product photos into `dir` (p0.jpg, p1.jpg, …) and returns their paths. */
export async function writeProductPhotos(dir: string, rgb: readonly [number, number, number], count: number, firstSeed = 1): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = join(dir, `p${String(i).padStart(3, '0')}.jpg`);
    writeFileSync(file, await productPhoto(rgb, firstSeed + i));
    files.push(file);
  }
  return files;
}

/** Colours none of the cosine test classifier's four classes is close to. */
export const BLUE: [number, number, number] = [30, 40, 220];
export const PURPLE: [number, number, number] = [150, 30, 200];
