import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from './usage.ts';

export const IMAGE_FILE = /\.(jpe?g|png|webp)$/i;

/** Files named, and image files found (recursively, in name order) in directories named. */
export async function collectImages(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch {
      throw new UsageError(`${path}: no such file or directory`);
    }
    if (info.isDirectory()) {
      const entries = await readdir(path, { recursive: true, withFileTypes: true });
      files.push(...entries.filter((e) => e.isFile() && IMAGE_FILE.test(e.name)).map((e) => join(e.parentPath, e.name)).sort());
    } else {
      files.push(path);
    }
  }
  return files;
}
