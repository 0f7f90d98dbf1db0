import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeModel } from './onnx-writer.ts';
import type { Logger } from '../logger.ts';

/*
 * vegkiosk's own TensorRT engine cache. onnxruntime-node 1.30 cannot turn TensorRT's cache on (README,
 * "Execution providers"), but TensorRT loads an "EP context" model without any provider option: an ONNX
 * graph whose single node is com.microsoft EPContext with embed_mode=0 and ep_cache_context = the engine
 * file, relative to the context model's directory (onnxruntime >= 1.17; absolute paths and '..' are refused
 * since 1.18). So the engine is built once with NVIDIA's trtexec into <dataDir>/trt-cache, wrapped in such a
 * model, and later starts open the wrapper (by path, so the relative engine path resolves).
 */

export const TRTEXEC_JETPACK_PATH = '/usr/src/tensorrt/bin/trtexec';
/** An Orin Nano can take many minutes for a large model; past this the build is considered hung. */
export const DEFAULT_BUILD_TIMEOUT_MS = 45 * 60_000;

export interface RunResult { code: number | null; signal: string | null; output: string }
/** Runs a program to completion (killing it with SIGKILL after timeoutMs); injectable for tests. */
export type RunProcess = (file: string, args: readonly string[], opts: { timeoutMs: number }) => Promise<RunResult>;

/** The last 16 KiB of stdout+stderr are enough to explain a failure; trtexec can print megabytes. */
export const runProcess: RunProcess = (file, args, { timeoutMs }) => new Promise((resolve) => {
  let output = '';
  const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-16_384); };
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('error', (err) => { clearTimeout(timer); resolve({ code: null, signal: null, output: `${output}\n${err.message}` }); });
  child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, output }); });
});

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** trtexec on PATH, else where JetPack installs it (not on PATH there by default). */
export function findTrtexec(env: NodeJS.ProcessEnv = process.env, executable = isExecutable): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    if (executable(join(dir, 'trtexec'))) return join(dir, 'trtexec');
  }
  return executable(TRTEXEC_JETPACK_PATH) ? TRTEXEC_JETPACK_PATH : null;
}

/** trtexec prints "[TensorRT v100300]" in its banner; an engine only loads in the TensorRT that built it. */
export async function tensorRtVersion(trtexec: string, run: RunProcess = runProcess): Promise<string> {
  const { output } = await run(trtexec, ['--help'], { timeoutMs: 60_000 });
  return /TensorRT v(\d+)/.exec(output)?.[1] ?? 'unknown';
}

export interface EngineCachePaths { dir: string; engine: string; ctx: string }

/** Keyed by the pinned model SHA-256 (a swapped model never reuses an engine) and the TensorRT version. */
export function engineCachePaths(dataDir: string, sha256: string, trtVersion: string): EngineCachePaths {
  const dir = join(dataDir, 'trt-cache');
  const key = `${sha256.slice(0, 16)}-trt${trtVersion.replace(/[^0-9A-Za-z.]/g, '_')}`;
  return { dir, engine: join(dir, `${key}.engine`), ctx: join(dir, `${key}_ctx.onnx`) };
}

/** A cached engine for this model in any TensorRT version (for `vegkiosk doctor`, which does not run trtexec). */
export function findCachedEngine(dataDir: string, sha256: string): string | null {
  const dir = join(dataDir, 'trt-cache');
  const prefix = `${sha256.slice(0, 16)}-trt`;
  try {
    const ctx = readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('_ctx.onnx'));
    return ctx && existsSync(join(dir, ctx.replace(/_ctx\.onnx$/, '.engine'))) ? join(dir, ctx) : null;
  } catch {
    return null;
  }
}

/** Both files present and the engine non-empty: the ctx model is written last, so it marks a finished build. */
export function hasEngineCache(paths: EngineCachePaths): boolean {
  try {
    return statSync(paths.engine).size > 0 && statSync(paths.ctx).isFile();
  } catch {
    return false;
  }
}

/** A graph input or output as the engine names it (the original model's names; float32 only). */
export interface IoTensor { name: string; shape: (number | string)[] }

/** Names and shapes from onnxruntime itself (a cpu session on the original bytes, only when building). */
export async function modelIo(modelBytes: Uint8Array): Promise<{ inputs: IoTensor[]; outputs: IoTensor[] }> {
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled' });
  try {
    const pick = (names: readonly string[], metas: readonly ort.InferenceSession.ValueMetadata[]): IoTensor[] => names.map((name, i) => {
      const meta = metas[i];
      if (!meta?.isTensor || meta.type !== 'float32') throw new Error(`"${name}" is not a float32 tensor; the engine cache only wraps float models`);
      return { name, shape: meta.shape.map((d, j) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' && d ? d : `dim${j}`)) };
    });
    return { inputs: pick(session.inputNames, session.inputMetadata), outputs: pick(session.outputNames, session.outputMetadata) };
  } finally {
    await session.release();
  }
}

/** trtexec quotes names that contain its separators with single quotes. */
const shapeName = (name: string) => (/[:,]/.test(name) ? `'${name}'` : name);

/**
 * The trtexec command line. vegkiosk always feeds batch 1, so symbolic dimensions become 1 in one
 * min=opt=max profile; static inputs get no shape flags (trtexec takes their shapes from the model).
 */
export function trtexecArgs(onnxPath: string, engineOut: string, inputs: readonly IoTensor[]): string[] {
  const args = [`--onnx=${onnxPath}`, `--saveEngine=${engineOut}`, '--skipInference'];
  const dynamic = inputs.filter((t) => t.shape.some((d) => typeof d !== 'number'));
  if (dynamic.length > 0) {
    const spec = dynamic.map((t) => `${shapeName(t.name)}:${t.shape.map((d) => (typeof d === 'number' ? d : 1)).join('x')}`).join(',');
    args.push(`--minShapes=${spec}`, `--optShapes=${spec}`, `--maxShapes=${spec}`);
  }
  return args;
}

/**
 * The EPContext wrapper, as onnxruntime's gen_trt_engine_wrapper_onnx_model.py writes it: node inputs and
 * outputs named as the engine's I/O tensors, embed_mode 0, ep_cache_context = the engine's file name (same
 * directory). No "source" attribute: TensorRT claims EPContext nodes without one.
 */
export function contextModelBytes(engineFileName: string, inputs: readonly IoTensor[], outputs: readonly IoTensor[]): Uint8Array {
  return encodeModel({
    graph: {
      name: 'vegkiosk_trt_engine_wrapper',
      nodes: [{
        op: 'EPContext', name: 'EPContext', domain: 'com.microsoft',
        inputs: inputs.map((t) => t.name), outputs: outputs.map((t) => t.name),
        attributes: { main_context: { int: 1 }, embed_mode: { int: 0 }, ep_cache_context: { string: engineFileName } },
      }],
      inputs: inputs.map((t) => ({ name: t.name, shape: t.shape })),
      outputs: outputs.map((t) => ({ name: t.name, shape: t.shape })),
    },
    extraOpsets: [{ domain: 'com.microsoft', version: 1 }],
    producer: 'vegkiosk',
  });
}

export interface BuildEngineOptions {
  trtexec: string;
  modelPath: string;
  paths: EngineCachePaths;
  inputs: readonly IoTensor[];
  outputs: readonly IoTensor[];
  run?: RunProcess;
  timeoutMs?: number;
  logger?: Logger;
}

const PARTIAL = '.partial';

/**
 * Builds the engine and its wrapper. Atomic: trtexec writes `<engine>.partial`, renamed when it exits 0;
 * the wrapper is written last, so a kill at any point leaves no cache that hasEngineCache() accepts.
 */
export async function buildEngineCache(o: BuildEngineOptions): Promise<void> {
  const { paths } = o;
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  // Leftovers of killed builds, and engines of models or TensorRT versions no longer in use (they are large).
  for (const f of readdirSync(paths.dir)) {
    const p = join(paths.dir, f);
    if (f.endsWith(PARTIAL) || (p !== paths.engine && p !== paths.ctx && /(\.engine|_ctx\.onnx|\.source\.onnx)$/.test(f) && !f.startsWith(basename(paths.engine)))) rmSync(p, { force: true });
  }
  const partial = paths.engine + PARTIAL;
  const started = Date.now();
  o.logger?.info({ model: o.modelPath, engine: paths.engine },
    'building the TensorRT engine with trtexec; this happens once per model and TensorRT version and can take minutes');
  const { code, signal, output } = await (o.run ?? runProcess)(o.trtexec, trtexecArgs(o.modelPath, partial, o.inputs),
    { timeoutMs: o.timeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS });
  const seconds = Math.round((Date.now() - started) / 1000);
  if (code !== 0 || !existsSync(partial) || statSync(partial).size === 0) {
    rmSync(partial, { force: true });
    const how = signal ? `was killed (${signal}) after ${seconds} s` : code === 0 ? 'exited 0 without writing the engine' : `exited with ${code} after ${seconds} s`;
    const tail = output.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${o.trtexec} ${how} building ${o.modelPath}${tail ? `: ${tail}` : ''}`);
  }
  renameSync(partial, paths.engine);
  writeFileSync(paths.ctx + PARTIAL, contextModelBytes(basename(paths.engine), o.inputs, o.outputs), { mode: 0o600 });
  renameSync(paths.ctx + PARTIAL, paths.ctx);
  o.logger?.info({ model: o.modelPath, engine: paths.engine, seconds }, `TensorRT engine built in ${seconds} s and cached; later starts load it`);
}

/** Moves a cache TensorRT refused aside (kept for a technician to inspect), so the next build starts clean. */
export function moveAsideStale(paths: EngineCachePaths): void {
  for (const p of [paths.engine, paths.ctx]) if (existsSync(p)) renameSync(p, `${p}.stale`);
}

/** onnxruntime errors that blame the cached files rather than TensorRT itself being unusable. */
export function isStaleCacheError(reason: string): boolean {
  return /deserializ|engine cache|EPContext|ep_cache_context|EP Context/i.test(reason);
}

export interface TensorRtCacheRequest {
  dataDir: string;
  /** The original model; the cache is keyed by its pinned SHA-256. */
  modelPath: string;
  sha256: string;
  modelBytes: Uint8Array;
  findTrtexec?: () => string | null;
  run?: RunProcess;
  timeoutMs?: number;
}

const conciseError = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();

/**
 * A TensorRT session from the engine cache, building it first if needed. null (with the reason logged)
 * when there is no trtexec, the build fails, or TensorRT refuses even a fresh cache: the caller then
 * does what it did before, a session on the original model with the engine built in memory.
 */
export async function openTensorRtFromCache(
  req: TensorRtCacheRequest, options: ort.InferenceSession.SessionOptions, logger?: Logger,
): Promise<ort.InferenceSession | null> {
  const log = { model: req.modelPath, executionProvider: 'tensorrt' };
  const trtexec = (req.findTrtexec ?? findTrtexec)();
  if (!trtexec) {
    logger?.info(log, `no TensorRT engine cache: trtexec is neither on PATH nor at ${TRTEXEC_JETPACK_PATH} (JetPack's TensorRT installs it there)`);
    return null;
  }
  const paths = engineCachePaths(req.dataDir, req.sha256, await tensorRtVersion(trtexec, req.run));
  let builtNow = false;
  const build = async (): Promise<boolean> => {
    // trtexec reads the bytes whose SHA-256 was checked, not the model path again: a file swapped after
    // the check must not end up compiled into an engine that is cached under the pinned hash.
    const pinnedCopy = `${paths.engine}.source.onnx`;
    try {
      mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
      writeFileSync(pinnedCopy, req.modelBytes, { mode: 0o600 });
      const io = await modelIo(req.modelBytes);
      await buildEngineCache({ trtexec, modelPath: pinnedCopy, paths, ...io, run: req.run, timeoutMs: req.timeoutMs, logger });
      builtNow = true;
      return true;
    } catch (err) {
      logger?.warn({ ...log, reason: conciseError(err) }, 'could not build the TensorRT engine cache');
      return false;
    } finally {
      rmSync(pinnedCopy, { force: true });
    }
  };
  if (!hasEngineCache(paths) && !(await build())) return null;
  for (;;) {
    try {
      // By path, not bytes: TensorRT resolves ep_cache_context against the context model's directory.
      const session = await ort.InferenceSession.create(paths.ctx, options);
      logger?.info({ ...log, engine: paths.engine }, 'TensorRT session opened from the cached engine');
      return session;
    } catch (err) {
      const reason = conciseError(err);
      if (!isStaleCacheError(reason)) {
        logger?.warn({ ...log, reason }, 'TensorRT could not open the cached engine; not a cache problem, so it is kept');
        return null;
      }
      moveAsideStale(paths);
      logger?.warn({ ...log, reason, movedTo: `${paths.engine}.stale` }, 'TensorRT refused the cached engine (TensorRT upgraded or file damaged); moved it aside');
      if (builtNow || !(await build())) return null;
    }
  }
}
