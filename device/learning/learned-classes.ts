import type { CosineHead, ImageInput, ModelManifest, PreparedInput, Prediction, PredictionExtension } from '../inference/model.ts';
import type { Logger } from '../logger.ts';
import { checkLabel, labelKey, MAX_EXAMPLES_PER_CLASS, MAX_LEARNED_CLASSES } from './class-labels.ts';
import { classList, forgetClass, type ClassInfo, type LearnResult } from './class-catalogue.ts';
import { exampleCrop } from './example-crop.ts';
import { ImprintedHead, prototypeOf, type LearnedRow, type Recognition } from './imprinted-head.ts';
import { LearningError } from './learning-error.ts';
import { decodeVector, encodeVector, LearnedStore, modelId, type StoredClass } from './learned-store.ts';

/** What learning needs from the model: its manifest, its head, and an embedding per image. */
export interface EmbeddingModel {
  readonly manifest: ModelManifest;
  readonly head?: CosineHead | null;
  prepare(image: ImageInput): Promise<PreparedInput>;
  run(input: PreparedInput): Promise<Prediction>;
}

export interface ExampleInfo {
  id: string;
  addedAt: string;
  /** What the kiosk recognises this example as now, learned classes included. */
  recognised: Recognition | null;
}

export interface LearnedClassesOptions {
  logger?: Logger;
  /**
   * After a model upgrade the examples are re-embedded with the new model; true (serve, learn) writes
   * the new embeddings, false (classify with another --model) keeps them in memory only.
   */
  persist?: boolean;
  /** How often, at most, the index file is checked for changes made by another process (ms). */
  refreshMs?: number;
}

/**
 * The classes taught on this kiosk, live: learn and forget (from the API or the CLI), and the
 * imprinted head every prediction goes through. A change written by another process (`vegkiosk learn`
 * while serve runs) is picked up within `refreshMs`, without a restart.
 */
export class LearnedClasses implements PredictionExtension {
  private head: ImprintedHead | null = null;
  private lastCheck = 0;
  private rebuilds = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly model: string | null;
  private readonly refreshMs: number;
  private inMemoryRows: LearnedRow[] | null = null;
  private warnedForeign = false;

  private constructor(readonly store: LearnedStore, private readonly embedder: EmbeddingModel, private readonly options: LearnedClassesOptions) {
    this.model = embedder.head ? modelId(embedder.manifest.sha256) : null;
    this.refreshMs = options.refreshMs ?? 500;
  }

  /** Opens the store for `model`, re-embedding the examples first when they were learned with another model. */
  static async open(dataDir: string, model: EmbeddingModel, options: LearnedClassesOptions = {}): Promise<LearnedClasses> {
    const learned = new LearnedClasses(new LearnedStore(dataDir, options.logger), model, options);
    await learned.adoptModel();
    learned.rebuild();
    if (options.persist !== false) learned.store.collectOrphans();
    return learned;
  }

  /** False when the model has no cosine head: nothing can be learned, nothing learned is applied. */
  get supported(): boolean {
    return this.model !== null;
  }

  /** PredictionExtension: the model's prediction with the learned classes in the same softmax. */
  extend(prediction: Prediction): Prediction {
    this.refreshSoon();
    return this.head ? this.head.apply(prediction) : prediction;
  }

  list(): ClassInfo[] {
    this.refreshNow();
    return classList(this.store.data, this.embedder.manifest.labels);
  }

  /** A class's examples with what each is recognised as now; unknown_class when it has none. */
  examples(label: string): { label: string; examples: ExampleInfo[] } {
    this.refreshNow();
    const found = this.findClass(label);
    if (!found) throw new LearningError('unknown_class', `no class named "${label}" has examples on this kiosk`);
    return {
      label: found.label,
      examples: found.examples.map((e) => ({ id: e.id, addedAt: e.addedAt, recognised: this.recogniseExample(e.id) })),
    };
  }

  /** The crop kept for an example of `label`, or null when there is none such. */
  exampleCrop(label: string, id: string): Buffer | null {
    this.refreshNow();
    const found = this.findClass(label);
    if (!found?.examples.some((e) => e.id === id)) return null;
    try {
      return this.store.readCrop(id);
    } catch {
      return null;
    }
  }

  /**
   * Adds example photos to `label` (creating the class), all or none: each photo must give a usable
   * crop. One learn at a time per process; the store's lock orders them across processes.
   */
  learn(label: string, images: readonly Buffer[]): Promise<LearnResult> {
    const run = this.queue.then(() => this.learnNow(label, images));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Forgets a learned class, or the examples that refine a model class; returns how many examples went. */
  forget(label: string): LearnResult {
    const result = forgetClass(this.store, this.embedder.manifest.labels, label);
    this.rebuild();
    return result;
  }

  private async learnNow(label: string, images: readonly Buffer[]): Promise<LearnResult> {
    checkLabel(label);
    if (!this.model) {
      const { name, version } = this.embedder.manifest;
      throw new LearningError('learning_unsupported',
        `the model ${name} ${version} cannot learn classes: it has no cosine head (manifest "head" and an embedding output); use a model that has one, such as vegetables-v2`);
    }
    if (!images.length) throw new LearningError('no_usable_crop', 'no photo given');
    this.checkRoom(label, images.length, this.store.data.classes);
    const added: { id: string; embedding: Float32Array }[] = [];
    try {
      for (const [i, image] of images.entries()) {
        let crop: Buffer;
        try {
          crop = await exampleCrop(image, this.embedder.manifest.input);
        } catch (err) {
          if (err instanceof LearningError && images.length > 1) throw new LearningError(err.code, `photo ${i + 1} of ${images.length}: ${err.message}`);
          throw err;
        }
        const embedding = await this.embed(crop);
        const id = LearnedStore.newExampleId();
        this.store.writeExample(id, this.model, crop, embedding);
        added.push({ id, embedding });
      }
      this.store.syncExamples();
      const model = this.model;
      const result = this.store.index.update((d) => {
        if (d.model !== null && d.model !== model && d.classes.length) {
          throw new Error(`the learned classes were last computed for another model (${d.model}); restart vegkiosk serve so it re-embeds them, then learn again`);
        }
        d.model = model;
        this.checkRoom(label, added.length, d.classes);
        const key = labelKey(label);
        let cls = d.classes.find((c) => labelKey(c.label) === key);
        if (!cls) {
          const canonical = this.embedder.manifest.labels.find((l) => labelKey(l) === key) ?? label;
          cls = { label: canonical, createdAt: new Date().toISOString(), examples: [], prototype: '' };
          d.classes.push(cls);
        }
        const now = new Date().toISOString();
        const embeddings = [...cls.examples.map((e) => this.store.readEmbedding(e.id, model)), ...added.map((a) => a.embedding)];
        cls.examples.push(...added.map((a) => ({ id: a.id, addedAt: now })));
        cls.prototype = encodeVector(prototypeOf(embeddings));
        return { label: cls.label, examples: cls.examples.length };
      });
      this.rebuild();
      return result;
    } catch (err) {
      for (const a of added) this.store.removeExample(a.id);
      throw err;
    }
  }

  private checkRoom(label: string, adding: number, classes: readonly StoredClass[]): void {
    const existing = classes.find((c) => labelKey(c.label) === labelKey(label));
    if (!existing && classes.length >= MAX_LEARNED_CLASSES) {
      throw new LearningError('too_many_classes', `this kiosk already has ${MAX_LEARNED_CLASSES} learned classes, the most it keeps; forget one first`);
    }
    const have = existing?.examples.length ?? 0;
    if (have + adding > MAX_EXAMPLES_PER_CLASS) {
      throw new LearningError('too_many_examples',
        `"${existing?.label ?? label}" has ${have} examples; ${adding} more would pass the limit of ${MAX_EXAMPLES_PER_CLASS} per class`);
    }
  }

  private async embed(image: Buffer): Promise<Float32Array> {
    const input = await this.embedder.prepare(image);
    try {
      const prediction = await this.embedder.run(input);
      if (!prediction.embedding) throw new Error('the model returned no embedding');
      return prediction.embedding;
    } finally {
      input.release();
    }
  }

  private findClass(label: string): StoredClass | undefined {
    const key = labelKey(label);
    return this.store.data.classes.find((c) => labelKey(c.label) === key);
  }

  private recogniseExample(id: string): Recognition | null {
    if (!this.head || !this.model) return null;
    try {
      return this.head.recognise(this.store.readEmbedding(id, this.model), 1)[0] ?? null;
    } catch {
      return null;
    }
  }

  private refreshSoon(): void {
    const now = performance.now();
    if (now - this.lastCheck < this.refreshMs) return;
    this.lastCheck = now;
    this.refreshNow();
  }

  private refreshNow(): void {
    if (this.store.index.refresh()) this.rebuild();
  }

  /**
   * Changes whenever the learned classes do (here, or within refreshMs in another process): a result
   * computed before the change is stale, so a pipeline resting on a still scene infers it again.
   */
  get generation(): number {
    this.refreshSoon();
    return this.rebuilds;
  }

  /** The head from the index's prototypes (or the in-memory ones of a foreign-model session). */
  private rebuild(): void {
    this.rebuilds++;
    const head = this.embedder.head;
    if (!head || !this.model) return;
    const { model, classes } = this.store.data;
    let rows: LearnedRow[];
    if (this.inMemoryRows) {
      rows = this.inMemoryRows;
    } else if (classes.length && model !== this.model) {
      if (!this.warnedForeign) this.options.logger?.warn({ learnedWith: model, running: this.model }, 'the learned classes were computed for another model; not applied until re-embedded (restart serve)');
      this.warnedForeign = true;
      rows = [];
    } else {
      rows = classes.map((c) => ({ label: c.label, prototype: decodeVector(c.prototype) }));
    }
    this.head = rows.length ? new ImprintedHead(this.embedder.manifest, head, rows) : null;
  }

  /** After a model upgrade: every example's crop embedded again with the new model (logged); nothing is lost. */
  private async adoptModel(): Promise<void> {
    const { model: learnedWith, classes } = this.store.data;
    if (!this.model || !classes.length || learnedWith === this.model) return;
    const count = classes.reduce((n, c) => n + c.examples.length, 0);
    const logger = this.options.logger;
    logger?.info({ classes: classes.length, examples: count, from: learnedWith, to: this.model },
      `re-embedding ${count} examples of ${classes.length} learned classes with the new model ${this.embedder.manifest.name} ${this.embedder.manifest.version}`);
    const started = performance.now();
    const computed = new Map<string, Float32Array>();
    const prototypes: LearnedRow[] = [];
    for (const c of classes) {
      const embeddings: Float32Array[] = [];
      for (const e of c.examples) {
        try {
          const embedding = await this.embed(this.store.readCrop(e.id));
          computed.set(e.id, embedding);
          embeddings.push(embedding);
        } catch (err) {
          logger?.warn({ label: c.label, example: e.id, err: (err as Error).message }, 'an example could not be re-embedded; its class keeps the others');
        }
      }
      if (embeddings.length) prototypes.push({ label: c.label, prototype: prototypeOf(embeddings) });
    }
    if (this.options.persist === false) {
      this.inMemoryRows = prototypes;
      return;
    }
    const model = this.model;
    for (const [id, embedding] of computed) this.store.writeEmbedding(id, model, embedding);
    this.store.syncExamples();
    const byKey = new Map(prototypes.map((p) => [labelKey(p.label), p.prototype]));
    this.store.index.update((d) => {
      d.model = model;
      for (const c of d.classes) {
        c.examples = c.examples.filter((e) => computed.has(e.id));
        const prototype = byKey.get(labelKey(c.label));
        if (prototype) c.prototype = encodeVector(prototype);
      }
      d.classes = d.classes.filter((c) => c.examples.length);
    });
    logger?.info({ examples: computed.size, ms: Math.round(performance.now() - started) }, 're-embedded the learned classes');
  }
}

