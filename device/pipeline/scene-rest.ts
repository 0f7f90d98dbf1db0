import sharp from 'sharp';
import type { Frame } from '../camera/frame-source.ts';
import type { PipelineResult } from '../results/pipeline-result.ts';

/**
 * The thumbnail a scene is compared by: 64x36 grey, which JPEG shrink-on-load decodes from a 720p
 * frame at 1/8 scale (only the DC coefficients) for a fraction of a full decode.
 */
export const THUMB_WIDTH = 64;
export const THUMB_HEIGHT = 36;
/**
 * A thumbnail pixel counts as changed past this many grey levels: above a webcam's noise and JPEG's
 * wobble on a still scene (2-6 levels), below any item put down or taken away.
 */
export const PIXEL_DELTA = 24;

export interface SceneRestOptions {
  /** Percent of thumbnail pixels that must change for the scene to count as changed (VEGKIOSK_REST_CHANGE). */
  changePercent: number;
  /** While resting, infer anyway after this long (VEGKIOSK_REST_REFRESH_MS), so slow drift never stalls recognition. */
  refreshMs: number;
  /** Monotonic clock (default performance.now). */
  now?: () => number;
  /**
   * What the model would answer changes when this does (the classes learned on the kiosk): a result
   * from before is never reused after it.
   */
  generation?: () => number;
}

/** What to do with a frame. */
export type RestDecision =
  /** Infer it: the first frame, a changed scene, or the periodic refresh. */
  | { action: 'infer'; reason: InferReason; changedPercent: number }
  /** The scene is the one last inferred: publish its result again, marked reused. */
  | { action: 'reuse'; result: PipelineResult; changedPercent: number }
  /** Same scene as a frame still in inference: its own result is on the way, so this frame adds nothing. */
  | { action: 'skip'; changedPercent: number };

/** Why a frame is inferred: the first one, a changed scene, the periodic refresh, or learned classes changed. */
export type InferReason = 'first' | 'changed' | 'refresh' | 'classes';

/** The frame last chosen for inference, and its result once published. */
interface Reference {
  order: number;
  thumb: Buffer;
  chosenAt: number;
  generation: number;
  result: PipelineResult | null;
}

/** A frame's grey thumbnail; null when it cannot be decoded (the pipeline's decode will say why). */
export async function sceneThumbnail(frame: Frame): Promise<Buffer | null> {
  try {
    const image = frame.jpeg
      ? sharp(frame.jpeg, { failOn: 'error' })
      : sharp(frame.raw!.data, { raw: { width: frame.raw!.width, height: frame.raw!.height, channels: frame.raw!.channels } });
    // resize first, so JPEG shrink-on-load applies; grey after, on 2304 pixels instead of the frame.
    return await image.resize(THUMB_WIDTH, THUMB_HEIGHT, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true }).greyscale().raw().toBuffer();
  } catch {
    return null;
  }
}

/** Percent of pixels that differ by more than PIXEL_DELTA grey levels. */
export function changedPercent(a: Buffer, b: Buffer): number {
  if (a.length !== b.length) return 100;
  let changed = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > PIXEL_DELTA) changed++;
  return (100 * changed) / a.length;
}

/**
 * Rest when nothing moves: each frame's thumbnail is compared with that of the frame last chosen for
 * inference (not with the previous frame, so a slow change adds up until it counts). An unchanged
 * scene is not detected or classified again; its result is published again instead. The pipeline
 * asks decide() before it decodes a frame and reports back what became of the frames it inferred.
 */
export class SceneRest {
  private reference: Reference | null = null;
  private readonly now: () => number;
  reused = 0;
  refreshes = 0;

  constructor(private readonly options: SceneRestOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  async decide(frame: Frame, order: number): Promise<RestDecision> {
    const thumb = await sceneThumbnail(frame);
    const ref = this.reference;
    const changed = thumb && ref ? changedPercent(thumb, ref.thumb) : 100;
    const generation = this.options.generation?.() ?? 0;
    const infer = (reason: InferReason): RestDecision => {
      // An undecodable frame never becomes the reference: the next good frame is compared afresh.
      this.reference = thumb ? { order, thumb, chosenAt: this.now(), generation, result: null } : null;
      if (reason === 'refresh') this.refreshes++;
      return { action: 'infer', reason, changedPercent: changed };
    };
    if (!thumb || !ref) return infer('first');
    if (changed >= this.options.changePercent) return infer('changed');
    if (generation !== ref.generation) return infer('classes');
    if (this.now() - ref.chosenAt >= this.options.refreshMs) return infer('refresh');
    if (!ref.result) return { action: 'skip', changedPercent: changed };
    this.reused++;
    return { action: 'reuse', result: ref.result, changedPercent: changed };
  }

  /** The result of an inferred frame was published. */
  published(order: number, result: PipelineResult): void {
    if (this.reference?.order === order) this.reference.result = result;
  }

  /** An inferred frame came to nothing (decode or inference failed, or overtaken): never wait for it. */
  abandoned(order: number): void {
    if (this.reference?.order === order) this.reference = null;
  }
}
