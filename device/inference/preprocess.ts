import sharp from 'sharp';
import type { KernelEnum, Metadata, OutputInfo, Sharp } from 'sharp';
import type { Logger } from '../logger.ts';
import { plainJpegSize } from './jpeg-header.ts';
import type { ImageInput, ModelManifest, PreparedInput } from './model.ts';

type InputSpec = ModelManifest['input'];

/** An image that cannot be decoded or has impossible dimensions; the message says which. */
export class ImageInputError extends Error {
  override readonly name = 'ImageInputError';
}

/** YOLO's letterbox grey, so a detector sees the borders it was trained with. */
export const LETTERBOX_PAD = 114;

/**
 * Process-wide sharp settings, for whoever owns the pipeline to call once at start (never done on
 * import). `concurrency` is libvips' threads per image; 1 keeps decode off the cores inference uses.
 * `cache: false` drops libvips' operation cache, which only helps when the same file is reprocessed
 * and otherwise holds memory a months-long service does not want to hold.
 */
export function configureSharp(opts: { concurrency?: number; cache?: boolean } = {}): void {
  if (opts.concurrency !== undefined) sharp.concurrency(opts.concurrency);
  if (opts.cache !== undefined) sharp.cache(opts.cache);
}

/** Where the decoded pixels land in the model input; see PreparedInput for the mapping. */
export interface ResizePlan {
  /** Size sharp resizes the whole image to. */
  resizedWidth: number;
  resizedHeight: number;
  /** Model-input pixel of resized pixel (0,0): positive = border, negative = cropped margin. */
  offsetX: number;
  offsetY: number;
  scaleX: number;
  scaleY: number;
}

/** Pure geometry of the three resize modes, exported for tests and for mapping boxes. */
export function planResize(mode: InputSpec['resize'], srcW: number, srcH: number, dstW: number, dstH: number): ResizePlan {
  if (mode === 'stretch') {
    return { resizedWidth: dstW, resizedHeight: dstH, offsetX: 0, offsetY: 0, scaleX: dstW / srcW, scaleY: dstH / srcH };
  }
  const s = mode === 'letterbox' ? Math.min(dstW / srcW, dstH / srcH) : Math.max(dstW / srcW, dstH / srcH);
  const resizedWidth = Math.max(1, Math.round(srcW * s));
  const resizedHeight = Math.max(1, Math.round(srcH * s));
  // letterbox centres the image in the borders; center-crop centres the window on the image.
  const offsetX = Math.floor((dstW - resizedWidth) / 2);
  const offsetY = Math.floor((dstH - resizedHeight) / 2);
  return {
    resizedWidth, resizedHeight,
    offsetX: mode === 'letterbox' ? offsetX : 0 - Math.floor((resizedWidth - dstW) / 2), // 0 - x: never -0
    offsetY: mode === 'letterbox' ? offsetY : 0 - Math.floor((resizedHeight - dstH) / 2),
    scaleX: resizedWidth / srcW,
    scaleY: resizedHeight / srcH,
  };
}

/** 256-entry tables per output channel: byte → (x/255 - mean) / std, so the fill loop is lookups only. */
function buildLuts(spec: InputSpec): Float32Array[] {
  return [0, 1, 2].map((c) => {
    const lut = new Float32Array(256);
    for (let i = 0; i < 256; i++) lut[i] = (i / 255 - spec.mean[c]!) / spec.std[c]!;
    return lut;
  });
}

interface Pixels {
  data: Buffer;
  width: number;
  height: number;
  channels: number;
}

/**
 * Writes `px` at (offsetX, offsetY) into a width×height tensor, filling what the image does not
 * cover with the pad value. Output channel k reads RGB channel k, or 2-k for BGR models; mean and
 * std in the manifest are in the model's channel order.
 */
export function fillTensor(dst: Float32Array, px: Pixels, spec: InputSpec, offsetX: number, offsetY: number, luts = buildLuts(spec)): void {
  const W = spec.width;
  const H = spec.height;
  const plane = W * H;
  const pc = px.channels;
  const [l0, l1, l2] = luts as [Float32Array, Float32Array, Float32Array];
  const grey = pc < 3;
  const bgr = spec.color === 'BGR';
  const s0 = grey ? 0 : bgr ? 2 : 0;
  const s1 = grey ? 0 : 1;
  const s2 = grey ? 0 : bgr ? 0 : 2;
  const p0 = l0[LETTERBOX_PAD]!, p1 = l1[LETTERBOX_PAD]!, p2 = l2[LETTERBOX_PAD]!;
  const src = px.data;
  const nchw = spec.layout === 'NCHW';
  for (let y = 0; y < H; y++) {
    const sy = y - offsetY;
    const rowInside = sy >= 0 && sy < px.height;
    const srcRow = sy * px.width;
    for (let x = 0; x < W; x++) {
      const sx = x - offsetX;
      const o = y * W + x;
      let v0 = p0, v1 = p1, v2 = p2;
      if (rowInside && sx >= 0 && sx < px.width) {
        const p = (srcRow + sx) * pc;
        v0 = l0[src[p + s0]!]!;
        v1 = l1[src[p + s1]!]!;
        v2 = l2[src[p + s2]!]!;
      }
      if (nchw) {
        dst[o] = v0;
        dst[plane + o] = v1;
        dst[2 * plane + o] = v2;
      } else {
        dst[3 * o] = v0;
        dst[3 * o + 1] = v1;
        dst[3 * o + 2] = v2;
      }
    }
  }
}

export interface PreprocessorOptions {
  /** Tensor buffers kept for reuse; 2 lets frame N+1 be prepared while frame N is in inference. */
  poolSize?: number;
  /** Resampling kernel; bilinear matches common training pipelines and is cheap on a Pi. */
  kernel?: keyof KernelEnum;
  logger?: Logger;
}

export interface PreprocessorStats {
  poolSize: number;
  free: number;
  /** Buffers allocated because every pooled one was still held (a consumer not calling release()). */
  overflowAllocations: number;
}

/** Decodes, resizes and normalises images into a small pool of reused Float32Array tensors. */
export class Preprocessor {
  readonly tensorLength: number;
  private readonly luts: Float32Array[];
  private readonly pooled = new Set<Float32Array>();
  private readonly free: Float32Array[] = [];
  private overflow = 0;

  constructor(readonly spec: InputSpec, private readonly opts: PreprocessorOptions = {}) {
    const poolSize = opts.poolSize ?? 2;
    if (!Number.isInteger(poolSize) || poolSize < 1) throw new RangeError(`poolSize must be an integer >= 1, got ${poolSize}`);
    this.tensorLength = spec.width * spec.height * 3;
    this.luts = buildLuts(spec);
    for (let i = 0; i < poolSize; i++) {
      const buf = new Float32Array(this.tensorLength);
      this.pooled.add(buf);
      this.free.push(buf);
    }
  }

  stats(): PreprocessorStats {
    return { poolSize: this.pooled.size, free: this.free.length, overflowAllocations: this.overflow };
  }

  async prepare(image: ImageInput): Promise<PreparedInput> {
    const { pipeline, width: srcW, height: srcH } = await this.open(image);
    const plan = planResize(this.spec.resize, srcW, srcH, this.spec.width, this.spec.height);
    let decoded: { data: Buffer; info: OutputInfo };
    // center-crop: only the model's window of the resized image is produced. Resizing the whole image
    // first made a 20000x2 photo (600 bytes as PNG) a 96 px-high strip of 960000 px: 276 MB.
    const crop = plan.offsetX < 0 || plan.offsetY < 0
      ? { left: -plan.offsetX, top: -plan.offsetY, width: this.spec.width, height: this.spec.height }
      : null;
    try {
      // resize() comes before any other operation (autoOrient() does not count: sharp accounts for
      // it) so JPEG shrink-on-load applies and libjpeg decodes at 1/2..1/8 scale instead of full size.
      let resized = pipeline
        .resize(plan.resizedWidth, plan.resizedHeight, { fit: 'fill', kernel: this.opts.kernel ?? 'linear', fastShrinkOnLoad: true });
      if (crop) resized = resized.extract(crop);
      decoded = await resized
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
    } catch (err) {
      throw new ImageInputError(`cannot decode image: ${(err as Error).message}`);
    }
    const data = this.acquire();
    fillTensor(data, { data: decoded.data, width: decoded.info.width, height: decoded.info.height, channels: decoded.info.channels },
      this.spec, crop ? 0 : plan.offsetX, crop ? 0 : plan.offsetY, this.luts);
    let released = false;
    return {
      data,
      sourceWidth: srcW,
      sourceHeight: srcH,
      scaleX: plan.scaleX,
      scaleY: plan.scaleY,
      padX: plan.offsetX,
      padY: plan.offsetY,
      // Idempotent: a second release must not put the same buffer in the free list twice, or two
      // frames would later share it.
      release: () => {
        if (released) return;
        released = true;
        if (this.pooled.has(data)) this.free.push(data);
      },
    };
  }

  private acquire(): Float32Array {
    const buf = this.free.pop();
    if (buf) return buf;
    this.overflow++;
    if (this.overflow === 1) {
      this.opts.logger?.warn({ poolSize: this.pooled.size }, 'preprocess buffer pool exhausted; allocating (is a PreparedInput not released?)');
    }
    return new Float32Array(this.tensorLength);
  }

  private async open(image: ImageInput): Promise<{ pipeline: Sharp; width: number; height: number }> {
    if (Buffer.isBuffer(image)) {
      // A camera frame: the size from its header, no libvips call (autoOrient() is a no-op without EXIF
      // and stays so both paths build the same pipeline).
      const plain = plainJpegSize(image);
      if (plain) return { pipeline: sharp(image, { failOn: 'error' }).autoOrient(), ...plain };
      let meta: Metadata;
      try {
        meta = await sharp(image).metadata();
      } catch (err) {
        throw new ImageInputError(`cannot decode image: ${(err as Error).message}`);
      }
      // Phone photos carry EXIF orientation; the model must see them upright. autoOrient() keeps
      // shrink-on-load (sharp swaps the target size for 90° rotations itself).
      const width = meta.autoOrient?.width ?? meta.width;
      const height = meta.autoOrient?.height ?? meta.height;
      if (!width || !height) throw new ImageInputError(`cannot decode image: no dimensions in ${meta.format ?? 'unknown'} data`);
      return { pipeline: sharp(image, { failOn: 'error' }).autoOrient(), width, height };
    }
    const { data, width, height, channels } = image;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || (channels !== 3 && channels !== 4)) {
      throw new ImageInputError(`raw image must have positive integer width/height and 3 or 4 channels (got ${width}x${height}x${channels})`);
    }
    if (data.length < width * height * channels) {
      throw new ImageInputError(`raw image ${width}x${height}x${channels} needs ${width * height * channels} bytes, got ${data.length}`);
    }
    // A frame buffer may be a view into a bigger allocation; sharp wants exactly the pixels.
    const pixels = data.length === width * height * channels ? data : data.subarray(0, width * height * channels);
    return { pipeline: sharp(pixels, { raw: { width, height, channels } }), width, height };
  }
}
