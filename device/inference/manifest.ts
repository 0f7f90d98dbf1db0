import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { CosineHeadSpec, ModelManifest } from './model.ts';

/**
 * A model or manifest file that cannot be used: missing, unreadable, malformed, or not matching its
 * pinned SHA-256. The message is one line a technician can act on (it names the file, the field and
 * what to do), so the CLI prints it as is.
 */
export class ModelFileError extends Error {
  override readonly name = 'ModelFileError';
  constructor(
    message: string,
    /** The file at fault. */
    readonly file: string,
    /** The manifest field at fault (dotted path), when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** `models/veg.onnx` → `models/veg.json`. */
export function manifestPathFor(modelPath: string): string {
  if (!modelPath.toLowerCase().endsWith('.onnx')) {
    throw new ModelFileError(`${modelPath}: a model file must end in .onnx (its manifest is the .json beside it)`, modelPath);
  }
  return modelPath.slice(0, -'.onnx'.length) + '.json';
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const LAYOUTS = ['NCHW', 'NHWC'] as const;
const COLORS = ['RGB', 'BGR'] as const;
const RESIZES = ['stretch', 'letterbox', 'center-crop'] as const;
const KINDS = ['classifier', 'detector'] as const;
const FORMATS_BY_KIND = { classifier: ['logits', 'softmax'], detector: ['yolov8'] } as const;
/** Larger inputs than this are certainly a typo, and would allocate gigabytes of tensor buffers. */
const MAX_INPUT_SIDE = 8192;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return json.length > 60 ? json.slice(0, 57) + '...' : json;
}

/**
 * Validates a parsed manifest and returns it typed. Unknown extra keys are allowed (training tools
 * may record metrics or provenance); every field vegkiosk reads is checked.
 */
export function parseManifest(value: unknown, file: string): ModelManifest {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new ModelFileError(`${file}: field "${field}" must be ${expected} (found ${describe(got)})`, file, field);
  };
  const object = (v: unknown, field: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'an object', v);
    return v as Record<string, unknown>;
  };
  const text = (v: unknown, field: string): string => {
    if (typeof v !== 'string' || v.trim() === '') fail(field, 'a non-empty string', v);
    return v as string;
  };
  const oneOf = <T extends string>(v: unknown, field: string, allowed: readonly T[]): T => {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) fail(field, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, v);
    return v as T;
  };
  const integer = (v: unknown, field: string, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(field, `an integer from ${min} to ${max}`, v);
    return v as number;
  };
  const fraction = (v: unknown, field: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) fail(field, 'a number from 0 to 1', v);
    return v as number;
  };
  const triple = (v: unknown, field: string, positive: boolean): [number, number, number] => {
    const ok = Array.isArray(v) && v.length === 3 &&
      v.every((n) => typeof n === 'number' && Number.isFinite(n) && (!positive || n > 0));
    if (!ok) fail(field, positive ? 'an array of 3 numbers greater than 0' : 'an array of 3 numbers', v);
    return [...(v as number[])] as [number, number, number];
  };

  const root = object(value, '(root)');
  const kind = oneOf(root.kind, 'kind', KINDS);
  if (!Array.isArray(root.labels) || root.labels.length === 0) fail('labels', 'a non-empty array of strings', root.labels);
  const labels = (root.labels as unknown[]).map((l, i) => text(l, `labels[${i}]`));
  const duplicate = labels.find((l, i) => labels.indexOf(l) !== i);
  if (duplicate !== undefined) fail('labels', 'an array of distinct labels', duplicate);

  const input = object(root.input, 'input');
  const output = object(root.output, 'output');
  const thresholds = object(root.thresholds, 'thresholds');
  const sha256 = text(root.sha256, 'sha256');
  if (!/^[0-9a-fA-F]{64}$/.test(sha256)) fail('sha256', 'the 64 hex digits of the .onnx file\'s SHA-256', sha256);

  const positive = (v: unknown, field: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(field, 'a number greater than 0', v);
    return v as number;
  };
  let head: CosineHeadSpec | undefined;
  if (root.head !== undefined) {
    if (kind !== 'classifier') fail('head', 'absent for a detector (a cosine head belongs to a classifier)', root.head);
    const h = object(root.head, 'head');
    head = {
      kind: oneOf(h.kind, 'head.kind', ['cosine'] as const),
      scale: positive(h.scale, 'head.scale'),
      embedding: text(h.embedding, 'head.embedding'),
      classWeights: text(h.classWeights, 'head.classWeights'),
      temperature: h.temperature === undefined ? 1 : positive(h.temperature, 'head.temperature'),
    };
  }

  return {
    name: text(root.name, 'name'),
    version: text(root.version, 'version'),
    kind,
    labels,
    input: {
      width: integer(input.width, 'input.width', 1, MAX_INPUT_SIDE),
      height: integer(input.height, 'input.height', 1, MAX_INPUT_SIDE),
      layout: oneOf(input.layout, 'input.layout', LAYOUTS),
      color: oneOf(input.color, 'input.color', COLORS),
      mean: triple(input.mean, 'input.mean', false),
      std: triple(input.std, 'input.std', true),
      resize: oneOf(input.resize, 'input.resize', RESIZES),
    },
    output: { format: oneOf(output.format, 'output.format', FORMATS_BY_KIND[kind]) },
    thresholds: { score: fraction(thresholds.score, 'thresholds.score'), iou: fraction(thresholds.iou, 'thresholds.iou') },
    ...(head ? { head } : {}),
    sha256: sha256.toLowerCase(),
  };
}

async function readOrExplain(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ModelFileError(`${path}: cannot read ${what}: ${why}`, path);
  }
}

export async function readManifest(manifestPath: string): Promise<ModelManifest> {
  const raw = await readOrExplain(manifestPath, 'the model manifest');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new ModelFileError(`${manifestPath}: not valid JSON (${(err as Error).message})`, manifestPath);
  }
  return parseManifest(parsed, manifestPath);
}

export interface VerifiedModelFiles {
  modelPath: string;
  manifestPath: string;
  manifest: ModelManifest;
  /** The exact bytes that were hashed; hand these (not the path) to onnxruntime so what runs is what was checked. */
  bytes: Buffer;
}

/** Reads `<name>.onnx` and `<name>.json`, validates the manifest and refuses a SHA-256 mismatch. */
export async function loadModelFiles(modelPath: string): Promise<VerifiedModelFiles> {
  const manifestPath = manifestPathFor(modelPath);
  const manifest = await readManifest(manifestPath);
  const bytes = await readOrExplain(modelPath, 'the model');
  const actual = sha256Hex(bytes);
  if (actual !== manifest.sha256) {
    throw new ModelFileError(
      `${modelPath}: SHA-256 is ${actual} but ${manifestPath} pins ${manifest.sha256}; refusing to load a model ` +
        'that is not the one its manifest describes (corrupted, truncated or replaced). Re-export the model together ' +
        'with its manifest, or, if this .onnx is the intended one, update "sha256" in the manifest.',
      modelPath,
      'sha256',
    );
  }
  return { modelPath, manifestPath, manifest, bytes };
}
