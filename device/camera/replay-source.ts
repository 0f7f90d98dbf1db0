import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { paceFrames } from './frame-pacer.ts';
import { errnoCode, errorMessage } from '../supervision/error-message.ts';
import { SourceError } from './source-error.ts';
import type { SourceOptions } from './source-options.ts';
import type { Session, SessionHooks } from './supervised-source.ts';
import { SupervisedSource } from './supervised-source.ts';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png']);

function isJpeg(bytes: Buffer): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8;
}

/** One image of the loop: a JPEG read from disk on each pass, or a PNG converted once. */
type ReplayImage = { file: string; jpeg: Buffer | null };

export interface ReplayOptions {
  /**
   * How long each image stays on before the next (ms). Frames keep coming at the source's fps
   * meanwhile, the same image each time, so the stall watchdog and the pipeline see a live camera.
   * 0 (the default) moves to the next image on every frame.
   */
  holdMs?: number;
  /** The name shown in health and logs (default `replay:<path>`). */
  sourceName?: string;
}

/**
 * Loops still images (one file or a directory, in natural name order) at the configured rate,
 * delivering JPEG bytes. JPEGs are read from disk on every pass so a large directory does not
 * sit in memory; PNGs are converted to JPEG once when the loop is (re)loaded.
 */
export class ReplaySource extends SupervisedSource {
  readonly kind = 'replay';
  private readonly path: string;
  /** Frames each image is delivered for before the next one: holdMs at the source's fps, at least 1. */
  private readonly framesPerImage: number;

  constructor(path: string, options: SourceOptions, replay: ReplayOptions = {}) {
    super(replay.sourceName ?? `replay:${path}`, options);
    this.path = path;
    this.framesPerImage = Math.max(1, Math.round(((replay.holdMs ?? 0) * this.options.fps) / 1000));
  }

  protected async open(hooks: SessionHooks): Promise<Session> {
    const images = await this.load();
    let next = 0;
    let shown = 0;
    // The image being held: read once per hold, not once per frame.
    let held: Buffer | null = null;
    const pacer = paceFrames(this.options.fps, async () => {
      if (held === null || shown >= this.framesPerImage) {
        const image = images[next];
        next = (next + 1) % images.length;
        held = image.jpeg ?? (await this.readJpeg(image));
        shown = 0;
      }
      shown++;
      hooks.frame({ jpeg: held });
    }, hooks.fail);
    return { close: () => pacer.stop() };
  }

  protected stallHint(): string {
    return `Check that ${this.path} is readable and on a disk that responds.`;
  }

  private async load(): Promise<ReplayImage[]> {
    const files = await this.listImages();
    const images: ReplayImage[] = [];
    for (const file of files) {
      if (extname(file).toLowerCase() !== '.png') {
        images.push({ file, jpeg: null });
        continue;
      }
      try {
        images.push({ file, jpeg: await sharp(file).jpeg({ quality: 90 }).toBuffer() });
      } catch (error) {
        throw new SourceError(`Replay image ${file} is not a readable PNG (${errorMessage(error)}). Replace or remove it.`, {
          permanent: true,
          cause: error,
        });
      }
    }
    return images;
  }

  private async listImages(): Promise<string[]> {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(this.path)).isDirectory();
    } catch (error) {
      throw new SourceError(
        errnoCode(error) === 'ENOENT'
          ? `Replay path ${this.path} does not exist. Check VEGKIOSK_CAMERA=replay:<file-or-dir>.`
          : `Replay path ${this.path} cannot be read: ${errorMessage(error)}`,
        { permanent: true, cause: error },
      );
    }
    if (!isDirectory) return [this.path];
    const names = (await readdir(this.path))
      .filter((name) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase()))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    if (names.length === 0) {
      throw new SourceError(`Replay directory ${this.path} holds no .jpg, .jpeg or .png images. Copy some in.`, {
        permanent: true,
      });
    }
    return names.map((name) => join(this.path, name));
  }

  private async readJpeg(image: ReplayImage): Promise<Buffer> {
    const file = image.file;
    const bytes = await readFile(file);
    if (isJpeg(bytes)) return bytes;
    // A JPEG-named file holding something else (PNG, WebP): convert once rather than pass it on.
    try {
      image.jpeg = await sharp(bytes).jpeg({ quality: 90 }).toBuffer();
      return image.jpeg;
    } catch (error) {
      throw new SourceError(`Replay image ${file} is neither a JPEG nor an image sharp can read. Replace or remove it.`, {
        permanent: true,
        cause: error,
      });
    }
  }
}
