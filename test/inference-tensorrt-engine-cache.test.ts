import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as ort from 'onnxruntime-node';
import { createLogger } from '../device/logger.ts';
import { bindingDirectory } from '../device/inference/execution-providers.ts';
import { loadModel } from '../device/inference/onnx-model.ts';
import {
  buildEngineCache, contextModelBytes, engineCachePaths, findCachedEngine, findTrtexec, hasEngineCache, isStaleCacheError,
  modelIo, openTensorRtFromCache, runProcess, tensorRtVersion, trtexecArgs, type EngineCachePaths,
} from '../device/inference/tensorrt-engine-cache.ts';
import { makeTempModels, type TempModels } from './fixtures/inference/temp-models.ts';

// No GPU, TensorRT or trtexec here. trtexec is replaced by a small real shell script that behaves like it
// on the command line (banner with the version on --help, writes --saveEngine's file); everything else
// (files, the wrapper ONNX, onnxruntime's own verdict on it) is real.

/** A minimal protobuf reader: field number -> values (varints as bigint, length-delimited as bytes). */
function fields(buf: Uint8Array): Map<number, (bigint | Uint8Array)[]> {
  const out = new Map<number, (bigint | Uint8Array)[]>();
  let i = 0;
  const varint = () => { let v = 0n, s = 0n, b; do { b = buf[i++]!; v |= BigInt(b & 0x7f) << s; s += 7n; } while (b & 0x80); return v; };
  while (i < buf.length) {
    const tag = Number(varint()), field = tag >> 3, wire = tag & 7;
    let value: bigint | Uint8Array;
    if (wire === 0) value = varint();
    else if (wire === 2) { const len = Number(varint()); value = buf.subarray(i, i + len); i += len; }
    else if (wire === 5) { value = buf.subarray(i, i + 4); i += 4; }
    else throw new Error(`wire type ${wire} not expected in a model we wrote`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);
const msgs = (m: Map<number, unknown[]>, f: number) => (m.get(f) ?? []).map((b) => fields(b as Uint8Array));
const str = (m: Map<number, unknown[]>, f: number) => (m.get(f) ?? []).map(text);
const num = (m: Map<number, unknown[]>, f: number) => Number((m.get(f) ?? [])[0] as bigint);

/** ValueInfoProto -> name, element type, dims (numbers or symbolic names). */
function valueInfo(v: Map<number, unknown[]>) {
  const tensor = msgs(msgs(v, 2)[0]!, 1)[0]!;
  const dims = msgs(msgs(tensor, 2)[0]!, 1).map((d) => (d.has(1) ? num(d, 1) : str(d, 2)[0]));
  return { name: str(v, 1)[0], elemType: num(tensor, 1), dims };
}

const BANNER = '&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec';

/** Writes a stand-in trtexec; `body` runs for builds with $ENGINE set to the --saveEngine path. */
async function standInTrtexec(dir: string, body: string): Promise<string> {
  const path = join(dir, 'trtexec');
  await writeFile(path, `#!/bin/sh
echo "${BANNER} $*"
[ "$1" = "--help" ] && exit 0
echo "$*" >> "${dir}/builds.log"
for a in "$@"; do case "$a" in --saveEngine=*) ENGINE="\${a#--saveEngine=}";; esac; done
${body}
`);
  chmodSync(path, 0o755);
  return path;
}
const WRITES_ENGINE = 'printf "serialized-engine" > "$ENGINE"; exit 0';

describe('inference: the TensorRT engine cache built with trtexec and loaded as an EPContext model', () => {
  let models: TempModels;
  let work: string;
  before(async () => { models = await makeTempModels(); });
  after(async () => { await models.cleanup(); });
  beforeEach(async () => { work = await mkdtemp(join(tmpdir(), 'vegkiosk-trt-engine-')); });
  afterEach(async () => { await rm(work, { recursive: true, force: true }); });

  it('builds the trtexec command line from the model\'s own input shapes, fixing the symbolic batch to 1', async () => {
    const { inputs } = await modelIo(await readFile(models.classifier.onnxPath));
    const { width, height } = models.classifier.manifest.input;
    expect(inputs).to.have.length(1);
    const shape = `${inputs[0]!.name}:1x3x${height}x${width}`;
    expect(trtexecArgs('/m/a.onnx', '/c/x.engine.partial', inputs)).to.deep.equal([
      '--onnx=/m/a.onnx', '--saveEngine=/c/x.engine.partial', '--skipInference',
      `--minShapes=${shape}`, `--optShapes=${shape}`, `--maxShapes=${shape}`]);
    // Static inputs take their shape from the model; names with trtexec's separators are quoted.
    expect(trtexecArgs('a.onnx', 'e', [{ name: 'x', shape: [1, 3, 8, 8] }])).to.deep.equal(['--onnx=a.onnx', '--saveEngine=e', '--skipInference']);
    expect(trtexecArgs('a.onnx', 'e', [{ name: 'in:0', shape: ['N', 3] }])).to.include("--minShapes='in:0':1x3");
  });

  it('names the cache after the model SHA-256 and the TensorRT version, so a swapped model or an upgrade rebuilds', () => {
    const a = engineCachePaths('/data', 'ab'.repeat(32), '100300');
    expect(a.engine).to.equal(`/data/trt-cache/${'ab'.repeat(8)}-trt100300.engine`);
    expect(a.ctx).to.equal(`/data/trt-cache/${'ab'.repeat(8)}-trt100300_ctx.onnx`);
    expect(engineCachePaths('/data', 'cd'.repeat(32), '100300').engine).to.not.equal(a.engine);
    expect(engineCachePaths('/data', 'ab'.repeat(32), '100700').engine).to.not.equal(a.engine);
  });

  it('finds trtexec on PATH or at the JetPack path, and reads the TensorRT version from its banner', async () => {
    const trtexec = await standInTrtexec(work, WRITES_ENGINE);
    expect(findTrtexec({ PATH: `/nonexistent:${work}` })).to.equal(trtexec);
    expect(findTrtexec({ PATH: '' }, (p) => p === '/usr/src/tensorrt/bin/trtexec')).to.equal('/usr/src/tensorrt/bin/trtexec');
    expect(findTrtexec({ PATH: '/nonexistent' }, () => false)).to.equal(null);
    expect(await tensorRtVersion(trtexec)).to.equal('100300');
  });

  async function build(paths: EngineCachePaths, trtexec: string, timeoutMs = 30_000) {
    const io = await modelIo(await readFile(models.classifier.onnxPath));
    await buildEngineCache({ trtexec, modelPath: models.classifier.onnxPath, paths, ...io, run: runProcess, timeoutMs });
  }

  it('a completed build leaves exactly the engine and its wrapper; leftovers of earlier builds are removed', async () => {
    const paths = engineCachePaths(work, models.classifier.manifest.sha256, '100300');
    const old = engineCachePaths(work, 'ff'.repeat(32), '100300');
    await build(old, await standInTrtexec(work, WRITES_ENGINE));
    await writeFile(paths.engine + '.partial', 'half');
    await build(paths, await standInTrtexec(work, WRITES_ENGINE));
    expect((await readdir(paths.dir)).sort()).to.deep.equal([`${paths.engine.split('/').pop()}`, `${paths.ctx.split('/').pop()}`].sort());
    expect(await readFile(paths.engine, 'utf8')).to.equal('serialized-engine');
    expect(hasEngineCache(paths)).to.equal(true);
    expect(findCachedEngine(work, models.classifier.manifest.sha256)).to.equal(paths.ctx);
    expect(findCachedEngine(work, 'ee'.repeat(32))).to.equal(null);
  });

  it('a build killed midway or failing leaves no cache that would load, and says why', async () => {
    const paths = engineCachePaths(work, models.classifier.manifest.sha256, '100300');
    const hangs = await standInTrtexec(work, 'printf "half-an-eng" > "$ENGINE"; exec sleep 30');
    let err: Error | undefined;
    try { await build(paths, hangs, 500); } catch (e) { err = e as Error; }
    expect(err?.message).to.match(/was killed \(SIGKILL\)/);
    expect(hasEngineCache(paths)).to.equal(false);
    expect(await readdir(paths.dir)).to.deep.equal([]);

    // vegkiosk itself killed mid-build (power cut): only the .partial file exists, which is never loaded.
    await writeFile(paths.engine + '.partial', 'half-an-eng');
    expect(hasEngineCache(paths)).to.equal(false);

    const fails = await standInTrtexec(work, 'echo "[E] Error[4]: unsupported operator" >&2; exit 1');
    err = undefined;
    try { await build(paths, fails); } catch (e) { err = e as Error; }
    expect(err?.message).to.match(/exited with 1 .*unsupported operator/);
    expect(await readdir(paths.dir)).to.deep.equal([]);
  });

  it('writes the wrapper exactly as TensorRT reads it: one com.microsoft EPContext node, embed_mode 0, the engine file name, the model\'s I/O', async () => {
    const io = await modelIo(await readFile(models.classifier.onnxPath));
    const model = fields(contextModelBytes('abc-trt100300.engine', io.inputs, io.outputs));
    const opsets = msgs(model, 8).map((o) => `${str(o, 1)[0] ?? ''}:${num(o, 2)}`);
    expect(opsets).to.include('com.microsoft:1');
    const graph = msgs(model, 7)[0]!;
    const nodes = msgs(graph, 1);
    expect(nodes).to.have.length(1);
    const node = nodes[0]!;
    expect(str(node, 4)).to.deep.equal(['EPContext']);
    expect(str(node, 7)).to.deep.equal(['com.microsoft']);
    expect(str(node, 1)).to.deep.equal(io.inputs.map((t) => t.name));
    expect(str(node, 2)).to.deep.equal(io.outputs.map((t) => t.name));
    const attrs = Object.fromEntries(msgs(node, 5).map((a) => [str(a, 1)[0], { type: num(a, 20), i: a.has(3) ? num(a, 3) : undefined, s: a.has(4) ? str(a, 4)[0] : undefined }]));
    // AttributeProto types: INT = 2, STRING = 3. No "source" attribute (TensorRT claims such nodes), no absolute path or '..'.
    expect(attrs).to.deep.equal({
      main_context: { type: 2, i: 1, s: undefined },
      embed_mode: { type: 2, i: 0, s: undefined },
      ep_cache_context: { type: 3, i: undefined, s: 'abc-trt100300.engine' },
    });
    const inputs = msgs(graph, 11).map(valueInfo);
    const outputs = msgs(graph, 12).map(valueInfo);
    expect(inputs.map((v) => v.name)).to.deep.equal(io.inputs.map((t) => t.name));
    expect(inputs[0]!.dims.slice(1)).to.deep.equal([3, models.classifier.manifest.input.height, models.classifier.manifest.input.width]);
    expect(typeof inputs[0]!.dims[0]).to.equal('string');
    expect([...inputs, ...outputs].every((v) => v.elemType === 1)).to.equal(true);
    expect(outputs.map((v) => v.name)).to.deep.equal(io.outputs.map((t) => t.name));
  });

  it('onnxruntime accepts the wrapper against the EPContext schema and, without TensorRT, refuses it naming EPContext', async () => {
    const io = await modelIo(await readFile(models.classifier.onnxPath));
    const ctx = join(work, 'm_ctx.onnx');
    await writeFile(ctx, contextModelBytes('m.engine', io.inputs, io.outputs));
    let err: Error | undefined;
    try { await ort.InferenceSession.create(ctx, { executionProviders: ['cpu'] }); } catch (e) { err = e as Error; }
    // A wrongly typed attribute would fail earlier, with "Mismatched attribute type" (schema check).
    expect(err?.message).to.match(/EPContext node .* is not compatible with any execution provider/);
    expect(isStaleCacheError(err!.message)).to.equal(true);
    if (existsSync('/usr/bin/python3')) {
      // python3-onnx where installed (not a test dependency): the official checker on the same bytes.
      try { execFileSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore' }); } catch { return; }
      execFileSync('/usr/bin/python3', ['-c', 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]))', ctx]);
    }
  });

  it('a cache TensorRT refuses is moved aside as *.stale and rebuilt once; a fresh build refused is not rebuilt again', async () => {
    const sha = models.classifier.manifest.sha256;
    const trtexec = await standInTrtexec(work, WRITES_ENGINE);
    const paths = engineCachePaths(work, sha, '100300');
    await build(paths, trtexec);
    await writeFile(join(work, 'builds.log'), '');
    const lines: string[] = [];
    const logger = createLogger('info', new Writable({ write(c, _e, done) { lines.push(String(c)); done(); } }));
    // The cpu provider stands in for a TensorRT that cannot deserialize: onnxruntime refuses the EPContext node.
    const req = { dataDir: work, modelPath: models.classifier.onnxPath, sha256: sha, modelBytes: await readFile(models.classifier.onnxPath), findTrtexec: () => trtexec };
    expect(await openTensorRtFromCache(req, { executionProviders: ['cpu'] }, logger)).to.equal(null);
    const files = (await readdir(paths.dir)).sort();
    expect(files.filter((f) => f.endsWith('.stale'))).to.have.length(2);
    expect(hasEngineCache(paths)).to.equal(false); // the rebuilt one was refused too, and moved aside
    expect((await readFile(join(work, 'builds.log'), 'utf8')).trim().split('\n')).to.have.length(1);
    expect(lines.join('')).to.match(/moved it aside/);
  });

  it('compiles the bytes whose SHA-256 was checked, even if the model file is swapped after the check', async () => {
    const sha = models.classifier.manifest.sha256;
    const pinned = await readFile(models.classifier.onnxPath);
    const swapped = join(work, 'swapped.onnx');
    await writeFile(swapped, 'not the pinned model');
    // The stand-in copies whatever --onnx names, so the test can compare it with the pinned bytes.
    const trtexec = await standInTrtexec(work, `for a in "$@"; do case "$a" in --onnx=*) cp "\${a#--onnx=}" "${work}/compiled.onnx";; esac; done; ${WRITES_ENGINE}`);
    const req = { dataDir: work, modelPath: swapped, sha256: sha, modelBytes: pinned, findTrtexec: () => trtexec };
    await openTensorRtFromCache(req, { executionProviders: ['cpu'] });
    expect(Buffer.compare(await readFile(join(work, 'compiled.onnx')), pinned)).to.equal(0);
    expect((await readdir(join(work, 'trt-cache'))).filter((f) => f.includes('source'))).to.deep.equal([]);
  });

  it('without trtexec nothing is built or written, and auto on this machine still ends on cpu or webgpu', async () => {
    const req = { dataDir: work, modelPath: models.classifier.onnxPath, sha256: models.classifier.manifest.sha256, modelBytes: new Uint8Array(), findTrtexec: () => null };
    expect(await openTensorRtFromCache(req, { executionProviders: ['tensorrt'] })).to.equal(null);
    const model = await loadModel(models.classifier.onnxPath, { executionProviders: ['auto'], dataDir: work, threads: 1 });
    await model.close();
    expect(['cpu', 'webgpu']).to.include(model.executionProvider);
    expect(await readdir(work)).to.deep.equal([]);
  });

  it('an error from TensorRT itself (its library missing) does not discard a good cache', async function () {
    if (!ort.listSupportedBackends().some((b) => b.name === 'tensorrt') || existsSync(join(bindingDirectory(), 'libonnxruntime_providers_tensorrt.so'))) this.skip();
    const trtexec = await standInTrtexec(work, WRITES_ENGINE);
    const sha = models.classifier.manifest.sha256;
    const paths = engineCachePaths(work, sha, '100300');
    await build(paths, trtexec);
    const before = await stat(paths.engine);
    const req = { dataDir: work, modelPath: models.classifier.onnxPath, sha256: sha, modelBytes: new Uint8Array(), findTrtexec: () => trtexec };
    expect(await openTensorRtFromCache(req, { executionProviders: ['tensorrt'] })).to.equal(null);
    expect(hasEngineCache(paths)).to.equal(true);
    expect((await stat(paths.engine)).mtimeMs).to.equal(before.mtimeMs);
  });
});
