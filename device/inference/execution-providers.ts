import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Logger } from '../logger.ts';
import { disableOnnxRuntimeTelemetry } from './onnxruntime-telemetry.ts';
import { AUTO_ORDER, KNOWN_PROVIDERS } from './provider-names.ts';
import { openTensorRtFromCache, type TensorRtCacheRequest } from './tensorrt-engine-cache.ts';


/** One row of `vegkiosk doctor`'s provider table. */
export interface ProviderAvailability {
  name: string;
  /** Shipped inside onnxruntime-node (cpu, webgpu) rather than needing extra shared libraries (cuda, tensorrt). */
  bundled: boolean;
  usable: boolean;
  /** Why it is (not) usable, for a technician. */
  reason: string;
}

export interface ProviderAttempt {
  provider: string;
  /** active: the session runs on it; failed: session creation threw; skipped: not tried. */
  outcome: 'active' | 'failed' | 'skipped';
  reason: string;
}

/** What the machine offers; injectable so the selection logic is testable without GPUs. */
export interface ProviderEnvironment {
  /** Default: onnxruntime-node's listSupportedBackends(). */
  backends?: readonly { name: string; bundled: boolean }[];
  /** Folder holding onnxruntime_binding.node and any provider libraries. */
  bindingDir?: string;
  fileExists?: (path: string) => boolean;
  /** Whether a GPU render node exists (/dev/dri/renderD*). */
  hasGpuRenderNode?: () => boolean;
}

/** The folder onnxruntime-node loads its native binding from; provider libraries must sit beside it. */
export function bindingDirectory(): string {
  const require = createRequire(import.meta.url);
  const distDir = dirname(require.resolve('onnxruntime-node'));
  return join(distDir, '..', 'bin', 'napi-v6', process.platform, process.arch);
}

function defaultHasGpuRenderNode(): boolean {
  try {
    return readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** The shared libraries a non-bundled provider needs beside the binding. */
const PROVIDER_LIBRARIES: Record<string, string[]> = {
  cuda: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  tensorrt: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'],
};

/**
 * Every provider this onnxruntime build knows, and whether it can be tried here. `forAuto` adds the
 * checks that only matter when choosing automatically (an explicitly configured provider is tried
 * even when it is probably slow).
 */
export function describeProviders(env: ProviderEnvironment = {}, forAuto = false): ProviderAvailability[] {
  const backends = env.backends ?? ort.listSupportedBackends();
  const bindingDir = env.bindingDir ?? bindingDirectory();
  const exists = env.fileExists ?? existsSync;
  const hasRenderNode = env.hasGpuRenderNode ?? defaultHasGpuRenderNode;
  return backends.map(({ name, bundled }) => {
    const libs = PROVIDER_LIBRARIES[name];
    if (!bundled && libs) {
      const missing = libs.filter((lib) => !exists(join(bindingDir, lib)));
      if (missing.length > 0) {
        return {
          name, bundled, usable: false,
          reason: `${missing.join(', ')} not found in ${bindingDir} (onnxruntime-node was installed without its ` +
            `${name.toUpperCase()} libraries; install the GPU build of onnxruntime for this board to use it)`,
        };
      }
      return { name, bundled, usable: true, reason: `provider libraries present in ${bindingDir}` };
    }
    if (name === 'webgpu' && forAuto && !hasRenderNode()) {
      return {
        name, bundled, usable: false,
        reason: 'no GPU render node (/dev/dri/renderD*): webgpu could only run on a software Vulkan driver, which is ' +
          'slower than cpu; list "webgpu" explicitly in VEGKIOSK_EXECUTION_PROVIDERS to use it anyway',
      };
    }
    return { name, bundled, usable: true, reason: bundled ? 'bundled with onnxruntime-node' : 'offered by onnxruntime' };
  });
}

/**
 * Expands the configured list (`['auto']`, `['webgpu','cpu']`, …) into the providers to try, in order,
 * and the ones left out with the reason.
 */
export function planProviders(configured: readonly string[], env: ProviderEnvironment = {}): { candidates: string[]; skipped: ProviderAttempt[] } {
  const explicit = new Map(describeProviders(env, false).map((p) => [p.name, p]));
  const forAuto = new Map(describeProviders(env, true).map((p) => [p.name, p]));
  const candidates: string[] = [];
  const skipped: ProviderAttempt[] = [];
  const seen = new Set<string>();
  const consider = (name: string, viaAuto: boolean) => {
    if (seen.has(name)) return;
    seen.add(name);
    const info = (viaAuto ? forAuto : explicit).get(name);
    if (!info) {
      const reason = KNOWN_PROVIDERS.includes(name)
        ? 'not offered by the installed onnxruntime-node build'
        : `unknown execution provider (known: ${KNOWN_PROVIDERS.join(', ')}, or auto)`;
      skipped.push({ provider: name, outcome: 'skipped', reason });
    } else if (!info.usable) {
      skipped.push({ provider: name, outcome: 'skipped', reason: info.reason });
    } else {
      candidates.push(name);
    }
  };
  for (const raw of configured) {
    const name = raw.trim().toLowerCase();
    if (name === 'auto') for (const p of AUTO_ORDER) consider(p, true);
    else if (name !== '') consider(name, false);
  }
  return { candidates, skipped };
}

/** intraOpNumThreads for a `threads` setting: 0 leaves one core for capture, preprocessing and the server. */
export function resolveThreads(threads = 0): number {
  if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`threads must be an integer >= 0, got ${threads}`);
  return threads > 0 ? threads : Math.max(1, availableParallelism() - 1);
}

/**
 * Dawn (inside the webgpu provider) and Mesa's Vulkan window-system code look for XDG_RUNTIME_DIR.
 * A systemd system service has none, and on such setups adapter creation has been reported to fail or
 * log errors. On this project's CI (Mesa lavapipe) it works without it, so this is belt and braces:
 * a private 0700 directory, set only when the variable is missing.
 */
export function ensureXdgRuntimeDir(): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const dir = join(tmpdir(), `vegkiosk-xdg-${userInfo().uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

/**
 * The session options for one attempt. Deliberately without `extra` (session config entries): the
 * EP-context entries (`ep.context_*`) cannot give TensorRT an engine cache, because onnxruntime-node 1.30
 * appends TensorRT before it adds `extra`, and TensorRT copies `ep.context_*` into its options only while
 * being appended; on a CPU session opened from bytes the same entries make onnxruntime refuse the model.
 * vegkiosk's own cache (tensorrt-engine-cache.ts) needs no options. README "Execution providers".
 */
export function sessionOptionsFor(
  provider: string,
  candidates: readonly string[],
  intraOpNumThreads: number,
): ort.InferenceSession.SessionOptions {
  const executionProviders: string[] = [provider];
  // Nodes TensorRT cannot take go to CUDA rather than the CPU when CUDA is there too.
  if (provider === 'tensorrt' && candidates.includes('cuda')) executionProviders.push('cuda');
  return { intraOpNumThreads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionProviders };
}

export interface CreateSessionOptions {
  /** Ordered names or ['auto']; default ['auto']. */
  executionProviders?: readonly string[];
  /** 0 (default) = max(1, cpus - 1). */
  threads?: number;
  logger?: Logger;
  /** Names the model in errors and logs. */
  modelLabel: string;
  env?: ProviderEnvironment;
  /** When given, tensorrt first tries the engine cache in `<dataDir>/trt-cache` (built with trtexec). */
  tensorRtCache?: TensorRtCacheRequest;
}

export interface CreatedSession {
  session: ort.InferenceSession;
  executionProvider: string;
  attempts: ProviderAttempt[];
}

/** No provider on the list could open the model (the model itself loaded nowhere is a ModelFileError). */
export class ExecutionProviderError extends Error {
  override readonly name = 'ExecutionProviderError';
  constructor(message: string, readonly attempts: ProviderAttempt[]) {
    super(message);
  }
}

/** onnxruntime prefixes its messages with a source location; the rest is what a technician needs. */
export function conciseOrtError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const afterCheck = /\bwas false\.\s*(.+)$/s.exec(message);
  const text = afterCheck ? afterCheck[1]! : message.replace(/^\S*onnxruntime\S*:\d+\s+/, '');
  return text.replace(/\s+/g, ' ').trim();
}

/** Errors that would be the same on every provider, because the model bytes themselves are bad. */
export function isModelLoadError(reason: string): boolean {
  return /protobuf parsing failed|INVALID_PROTOBUF|INVALID_GRAPH|model_load|Load model|ModelProto/i.test(reason);
}

export type ModelLoadFailure = (reason: string) => Error;

/**
 * Creates the session on the first provider that works, in the configured order, warning about each
 * one that fails. `onModelError` builds the error thrown when the model bytes cannot be parsed at all.
 */
export async function createSession(
  model: Uint8Array,
  opts: CreateSessionOptions,
  onModelError: ModelLoadFailure,
): Promise<CreatedSession> {
  // Sessions opened on the main thread (doctor, tests); WorkerModel does it before its thread starts.
  disableOnnxRuntimeTelemetry();
  const { candidates, skipped } = planProviders(opts.executionProviders ?? ['auto'], opts.env);
  const attempts: ProviderAttempt[] = [...skipped];
  const threads = resolveThreads(opts.threads);
  for (const provider of candidates) {
    if (provider === 'webgpu') ensureXdgRuntimeDir();
    if (provider === 'tensorrt' && opts.tensorRtCache) {
      const session = await openTensorRtFromCache(opts.tensorRtCache, sessionOptionsFor(provider, candidates, threads), opts.logger);
      if (session) {
        attempts.push({ provider, outcome: 'active', reason: 'session created from the cached TensorRT engine' });
        opts.logger?.info({ model: opts.modelLabel, executionProvider: provider, attempts }, 'inference session ready');
        return { session, executionProvider: provider, attempts };
      }
    }
    if (provider === 'tensorrt') {
      opts.logger?.info({ model: opts.modelLabel, executionProvider: provider },
        'building the TensorRT engine in memory (no usable engine cache, see the lines above; this happens at every start and can be slow)');
    }
    try {
      const session = await ort.InferenceSession.create(model, sessionOptionsFor(provider, candidates, threads));
      attempts.push({ provider, outcome: 'active', reason: 'session created' });
      opts.logger?.info({ model: opts.modelLabel, executionProvider: provider, attempts }, 'inference session ready');
      return { session, executionProvider: provider, attempts };
    } catch (err) {
      const reason = conciseOrtError(err);
      attempts.push({ provider, outcome: 'failed', reason });
      if (isModelLoadError(reason)) throw onModelError(reason);
      opts.logger?.warn({ model: opts.modelLabel, executionProvider: provider, reason }, 'execution provider failed; trying the next');
    }
  }
  const cpuFailure = attempts.find((a) => a.provider === 'cpu' && a.outcome === 'failed');
  if (cpuFailure) throw onModelError(cpuFailure.reason);
  const summary = attempts.map((a) => `${a.provider} ${a.outcome}: ${a.reason}`).join('; ');
  throw new ExecutionProviderError(
    `no execution provider could run ${opts.modelLabel} (${summary || 'the list is empty'}); ` +
      'add "cpu" to VEGKIOSK_EXECUTION_PROVIDERS or set it to "auto"',
    attempts,
  );
}
