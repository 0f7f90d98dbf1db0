import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger.ts';
import { fsyncDir } from '../store/durable-file.ts';
import { expectArray, expectRecord, VersionedStore, type StoreSpec } from '../store/versioned-store.ts';

/** One example photo: its crop is `learned/<id>.jpg`, its embedding under model M `learned/<id>.<M>.f32`. */
export interface StoredExample {
  id: string;
  addedAt: string;
}

export interface StoredClass {
  label: string;
  createdAt: string;
  examples: StoredExample[];
  /** The examples' normalised mean embedding, little-endian float32, base64. */
  prototype: string;
}

export interface LearnedData {
  /** The model the embeddings and prototypes were computed with (first 16 hex digits of its SHA-256), or null while empty. */
  model: string | null;
  classes: StoredClass[];
}

export const LEARNED_SPEC: StoreSpec<LearnedData> = {
  file: 'learned-classes.json',
  format: 'vegkiosk.learned-classes',
  version: 1,
  migrations: {},
  empty: () => ({ model: null, classes: [] }),
  check(data: unknown): asserts data is LearnedData {
    const d = expectRecord(data, 'learned classes file');
    if (d.model !== null && typeof d.model !== 'string') throw new Error('learned classes without a model id');
    for (const c of expectArray(d.classes, 'learned classes')) {
      const r = expectRecord(c, 'learned class');
      if (typeof r.label !== 'string' || typeof r.prototype !== 'string') throw new Error('learned class without label or prototype');
      for (const e of expectArray(r.examples, 'examples')) {
        if (typeof expectRecord(e, 'example').id !== 'string' || !/^[0-9a-f]{24}$/.test(String((e as StoredExample).id))) throw new Error('example without a valid id');
      }
    }
  },
};

/** Files younger than this may belong to a learn still in progress in another process: never collected. */
const ORPHAN_AGE_MS = 60_000;

export function modelId(sha256: string): string {
  return sha256.slice(0, 16);
}

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function decodeVector(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const copy = new Uint8Array(bytes); // aligned, owned
  return new Float32Array(copy.buffer, 0, copy.byteLength >> 2);
}

/**
 * The learned classes on disk, in the data directory: `learned-classes.json` (versioned, durable, the
 * one file that says what is learned) and `learned/`, the examples' crops and embeddings. A learn
 * writes its new example files first (each fsync'd, then renamed into place) and commits by replacing
 * the index atomically; a forget commits first and deletes after. So a kill -9 at any point leaves the
 * old or the new state, at worst with unreferenced files, which `collectOrphans` removes later.
 */
export class LearnedStore {
  readonly index: VersionedStore<LearnedData>;
  readonly examplesDir: string;

  constructor(dataDir: string, private readonly logger?: Logger) {
    this.index = new VersionedStore(dataDir, LEARNED_SPEC, logger).load();
    this.examplesDir = join(dataDir, 'learned');
  }

  get data(): LearnedData {
    return this.index.data;
  }

  static newExampleId(): string {
    return randomBytes(12).toString('hex');
  }

  cropPath(id: string): string {
    return join(this.examplesDir, `${id}.jpg`);
  }

  embeddingPath(id: string, model: string): string {
    return join(this.examplesDir, `${id}.${model}.f32`);
  }

  readCrop(id: string): Buffer {
    return readFileSync(this.cropPath(id));
  }

  readEmbedding(id: string, model: string): Float32Array {
    const bytes = new Uint8Array(readFileSync(this.embeddingPath(id, model)));
    return new Float32Array(bytes.buffer, 0, bytes.byteLength >> 2);
  }

  /** Writes an example's files durably (not yet referenced by the index). */
  writeExample(id: string, model: string, crop: Buffer, embedding: Float32Array): void {
    mkdirSync(this.examplesDir, { recursive: true, mode: 0o700 });
    writeDurably(this.cropPath(id), crop);
    writeEmbedding(this.embeddingPath(id, model), embedding);
  }

  writeEmbedding(id: string, model: string, embedding: Float32Array): void {
    writeEmbedding(this.embeddingPath(id, model), embedding);
  }

  /** Makes the renames of the example files written since the last call durable. */
  syncExamples(): void {
    fsyncDir(this.examplesDir);
  }

  /** Deletes an example's files (after the index no longer names it). */
  removeExample(id: string): void {
    for (const name of this.filesOf(id)) rmSync(join(this.examplesDir, name), { force: true });
  }

  /**
   * Removes files no class refers to (left by a learn killed before it committed, by a forget killed
   * after, or embeddings of an earlier model), keeping anything young enough to be a learn in flight.
   */
  collectOrphans(now = Date.now()): number {
    let names: string[];
    try {
      names = readdirSync(this.examplesDir);
    } catch {
      return 0;
    }
    this.index.refresh();
    const { model, classes } = this.index.data;
    const live = new Set<string>();
    for (const c of classes) for (const e of c.examples) {
      live.add(`${e.id}.jpg`);
      if (model) live.add(`${e.id}.${model}.f32`);
    }
    let removed = 0;
    for (const name of names) {
      if (live.has(name)) continue;
      const path = join(this.examplesDir, name);
      try {
        if (now - statSync(path).mtimeMs < ORPHAN_AGE_MS) continue;
        rmSync(path, { force: true });
        removed++;
      } catch {
        // Gone already (another process collecting): nothing to do.
      }
    }
    if (removed) this.logger?.info({ dir: this.examplesDir, removed }, 'removed example files no learned class refers to');
    return removed;
  }

  private filesOf(id: string): string[] {
    try {
      return readdirSync(this.examplesDir).filter((n) => n.startsWith(`${id}.`));
    } catch {
      return [];
    }
  }
}

function writeEmbedding(path: string, embedding: Float32Array): void {
  writeDurably(path, Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength));
}

/** Temp file, fsync, rename: the file appears whole or not at all. */
function writeDurably(path: string, bytes: Buffer): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}
