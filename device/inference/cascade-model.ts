import type { CosineHead, Detection, ImageInput, Model, ModelManifest, PreparedInput, Prediction } from './model.ts';
import { itemCrops } from './item-crops.ts';

/**
 * Crops classified per frame at most (the detector's best boxes); one batch of this many stays well
 * within a frame's time on a Pi, and a counter rarely holds more items than this that matter.
 */
export const MAX_CASCADE_ITEMS = 8;

/**
 * The share of the frame the largest box must cover to be the main item the result names. Smaller
 * boxes only are a pile, a shelf or a counter of small things, whose best single answer is the whole
 * frame (what the classifier alone answered; the boxes still name each item). On the Grocery val
 * vegetables with the stand-in COCO detector and vegetables-v1, the main crop alone cost 11 of 85
 * photos against the whole frame; with this rule, 1 (0.25: 2, 0.4: 1); measure it again for a new
 * detector with scripts/evaluate-model.ts --detector.
 */
export const MAIN_ITEM_AREA = 0.3;

/** The two models a cascade is made of, as the status and the bench report name them. */
export interface CascadeStages {
  detector: ModelManifest;
  classifier: ModelManifest;
}

/**
 * The cascade's prepared input: the classifier's inputs for one frame (each box's crop, and the whole
 * frame when it is the answer), with the detector's boxes they belong to.
 */
interface CascadeInput extends PreparedInput {
  boxes: Detection[];
  inputs: PreparedInput[];
  /** Index into `inputs` of the top-level answer: the main item's crop, or the whole frame. */
  answer: number;
}

export interface CascadeOptions {
  /** Crops classified per frame at most (default MAX_CASCADE_ITEMS). */
  maxItems?: number;
}

/**
 * Detect, then classify: the detector finds the items in the frame, the classifier names each one from
 * its crop (all crops in one batched run), so every item carries the classifier's label (and the
 * classes learned on the kiosk, applied by the classifier's extension) with the detector's own label
 * and score beside it. The result's `label`, `score` and `top` are the main item's (the largest box,
 * when it covers MAIN_ITEM_AREA of the frame), or the whole frame's when nothing that large is
 * detected, so a caller that wants one answer per photo loses nothing.
 *
 * It is a Model like any other, so the pipeline, `classify`, `/api/classify` and `bench` run it
 * without code of their own. Its two stages are the two models, each on its own worker thread:
 * prepare() decodes, detects and cuts the crops, run() classifies them; the pipeline overlaps the
 * two as it overlaps decoding and inference for a model alone.
 */
export class CascadeModel implements Model {
  readonly stages: CascadeStages;
  private readonly maxItems: number;

  constructor(readonly detector: Model, readonly classifier: Model, options: CascadeOptions = {}) {
    if (detector.manifest.kind !== 'detector') throw new TypeError(`${detector.manifest.name} is not a detector`);
    if (classifier.manifest.kind !== 'classifier') throw new TypeError(`${classifier.manifest.name} is not a classifier`);
    this.stages = { detector: detector.manifest, classifier: classifier.manifest };
    this.maxItems = options.maxItems ?? MAX_CASCADE_ITEMS;
  }

  /** The classifier's: its labels are the ones results carry, and learning builds on it. */
  get manifest(): ModelManifest {
    return this.classifier.manifest;
  }

  get executionProvider(): string {
    const a = this.detector.executionProvider;
    const b = this.classifier.executionProvider;
    return a === b ? a : `${a}+${b}`;
  }

  get head(): CosineHead | null {
    return this.classifier.head ?? null;
  }

  /**
   * Everything up to the classifier's inputs: decode for the detector, detect (on the detector's
   * worker), cut and preprocess the crops. The pipeline runs this for the next frames while run()
   * classifies the current one on the classifier's worker, so the two models work at the same time.
   */
  async prepare(image: ImageInput): Promise<PreparedInput> {
    const frame = await this.detector.prepare(image);
    let found: Prediction;
    try {
      found = await this.detector.run(frame);
    } finally {
      frame.release();
    }
    // Best boxes first (the decoder's order), then only as many as one batch should carry.
    const boxes = found.detections.slice(0, this.maxItems);
    const main = boxes.length ? largest(boxes) : -1;
    // Nothing detected, or a main item too small to stand for the photo: the whole frame is the answer.
    const wholeToo = main < 0 || area(boxes[main]!) < MAIN_ITEM_AREA;
    const crops = await itemCrops(image, { width: frame.sourceWidth, height: frame.sourceHeight }, boxes.map((d) => d.box),
      { targetSide: Math.max(this.classifier.manifest.input.width, this.classifier.manifest.input.height) });
    const settled = await Promise.allSettled([...crops, ...(wholeToo ? [image] : [])].map((one) => this.classifier.prepare(one)));
    const inputs = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) {
      for (const one of inputs) one.release();
      throw failed.reason;
    }
    const { sourceWidth, sourceHeight, scaleX, scaleY, padX, padY } = frame;
    const prepared: CascadeInput = {
      data: inputs[0]!.data, sourceWidth, sourceHeight, scaleX, scaleY, padX, padY,
      boxes, inputs, answer: wholeToo ? boxes.length : main,
      release: () => { for (const one of inputs) one.release(); },
    };
    return prepared;
  }

  /** The classifier on every input of the frame, in one batched run. Does not release the input. */
  async run(input: PreparedInput): Promise<Prediction> {
    const { boxes, inputs, answer } = input as Partial<CascadeInput>;
    if (!boxes || !inputs || answer === undefined) throw new TypeError('the cascade runs only inputs it prepared itself');
    const named = this.classifier.runBatch
      ? await this.classifier.runBatch(inputs)
      : await inputs.reduce<Promise<Prediction[]>>(async (done, one) => [...(await done), await this.classifier.run(one)], Promise.resolve([]));
    const detections: Detection[] = boxes.map((d, i) => {
      const best = named[i]!.top[0]!;
      return {
        label: best.label,
        score: best.score,
        box: d.box,
        detector: { label: d.label, score: d.score },
        ...(best.source ? { source: best.source } : {}),
      };
    });
    return { ...named[answer]!, kind: 'cascade', detections };
  }

  async close(): Promise<void> {
    await Promise.all([this.detector.close(), this.classifier.close()]);
  }
}

function area(d: Detection): number {
  return (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]);
}

/** Index of the largest box by area (the main item: the one nearest the camera, or the one on the scale). */
function largest(detections: readonly Detection[]): number {
  let best = 0;
  let bestArea = -1;
  detections.forEach((d, i) => {
    if (area(d) > bestArea) {
      best = i;
      bestArea = area(d);
    }
  });
  return best;
}
