/**
 * A minimal ONNX protobuf writer: test and benchmark models are generated with it from TypeScript
 * without Python or the onnx package. It covers only what vegkiosk's generated graphs need:
 * float/int64 tensors, tensor-typed graph inputs/outputs, int/ints/float/floats/string/tensor
 * attributes, and nodes of other domains (com.microsoft's EPContext, for the TensorRT engine cache).
 * Field numbers follow onnx/onnx.proto (proto2).
 */

/** Protobuf wire types. */
const VARINT = 0;
const LEN = 2;
const FIXED32 = 5;

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values used here. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];

  private tag(field: number, wireType: number): void {
    this.rawVarint(BigInt((field << 3) | wireType));
  }

  private rawVarint(value: bigint): void {
    // Negative int64 values are encoded as their 64-bit two's complement (10 bytes), as protobuf does.
    let v = BigInt.asUintN(64, value);
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v !== 0n);
    this.chunks.push(Uint8Array.from(bytes));
  }

  varint(field: number, value: number | bigint): this {
    this.tag(field, VARINT);
    this.rawVarint(BigInt(value));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, LEN);
    this.rawVarint(BigInt(value.length));
    this.chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.chunks.push(b);
    return this;
  }

  finish(): Uint8Array {
    const total = this.chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

/** A constant tensor (initializer or Constant value). Stored as raw little-endian data. */
export interface TensorSpec {
  name?: string;
  dims: number[];
  /** float32 unless `int64` is given. */
  data?: Float32Array | number[];
  int64?: bigint[] | number[];
}

export function encodeTensor(t: TensorSpec): Uint8Array {
  const w = new ProtoWriter();
  for (const d of t.dims) w.varint(1, d);
  const count = t.dims.reduce((n, d) => n * d, 1);
  if (t.int64 !== undefined) {
    if (t.int64.length !== count) throw new Error(`tensor ${t.name ?? '?'}: ${t.int64.length} values for dims [${t.dims}]`);
    w.varint(2, DataType.INT64);
    if (t.name) w.string(8, t.name);
    const raw = new Uint8Array(count * 8);
    const view = new DataView(raw.buffer);
    t.int64.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    w.bytes(9, raw);
  } else {
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data ?? []);
    if (data.length !== count) throw new Error(`tensor ${t.name ?? '?'}: ${data.length} values for dims [${t.dims}]`);
    w.varint(2, DataType.FLOAT);
    if (t.name) w.string(8, t.name);
    // Copy so the raw bytes are little-endian float32 regardless of the source view's offset.
    const raw = new Uint8Array(count * 4);
    const view = new DataView(raw.buffer);
    data.forEach((v, i) => view.setFloat32(i * 4, v, true));
    w.bytes(9, raw);
  }
  return w.finish();
}

export type AttributeValue =
  | { int: number }
  | { ints: number[] }
  | { float: number }
  | { floats: number[] }
  | { string: string }
  | { tensor: TensorSpec };

function encodeAttribute(name: string, value: AttributeValue): Uint8Array {
  const w = new ProtoWriter().string(1, name);
  if ('int' in value) {
    w.varint(20, AttributeType.INT).varint(3, value.int);
  } else if ('ints' in value) {
    w.varint(20, AttributeType.INTS);
    for (const i of value.ints) w.varint(8, i);
  } else if ('float' in value) {
    w.varint(20, AttributeType.FLOAT).float(2, value.float);
  } else if ('floats' in value) {
    w.varint(20, AttributeType.FLOATS);
    for (const f of value.floats) w.float(7, f);
  } else if ('string' in value) {
    w.varint(20, AttributeType.STRING).string(4, value.string);
  } else {
    w.varint(20, AttributeType.TENSOR).bytes(5, encodeTensor(value.tensor));
  }
  return w.finish();
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  /** Operator domain; default '' (ai.onnx). Other domains need an entry in ModelSpec.extraOpsets. */
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

function encodeNode(n: NodeSpec, index: number): Uint8Array {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name ?? `${n.op.toLowerCase()}_${index}`);
  w.string(4, n.op);
  for (const [name, value] of Object.entries(n.attributes ?? {})) w.bytes(5, encodeAttribute(name, value));
  if (n.domain) w.string(7, n.domain);
  return w.finish();
}

/** A graph input or output: float32 tensor; a string dimension is symbolic (e.g. 'N' for batch). */
export interface ValueSpec {
  name: string;
  shape: (number | string)[];
}

function encodeValueInfo(v: ValueSpec): Uint8Array {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.bytes(1, dim.finish());
  }
  const tensorType = new ProtoWriter().varint(1, DataType.FLOAT).bytes(2, shape.finish()).finish();
  const type = new ProtoWriter().bytes(1, tensorType).finish();
  return new ProtoWriter().string(1, v.name).bytes(2, type).finish();
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  inputs: ValueSpec[];
  outputs: ValueSpec[];
  initializers?: (TensorSpec & { name: string })[];
}

export interface ModelSpec {
  graph: GraphSpec;
  /** Default opset 13: what onnxruntime, TensorRT and the webgpu EP all cover well. */
  opset?: number;
  /** Default 8 (ONNX 1.10+), readable by every onnxruntime vegkiosk supports. */
  irVersion?: number;
  producer?: string;
  docString?: string;
  /** Opset imports besides ai.onnx, e.g. [{ domain: 'com.microsoft', version: 1 }]. */
  extraOpsets?: { domain: string; version: number }[];
}

/** Serialises a ModelProto. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const g = new ProtoWriter();
  spec.graph.nodes.forEach((n, i) => g.bytes(1, encodeNode(n, i)));
  g.string(2, spec.graph.name);
  for (const t of spec.graph.initializers ?? []) g.bytes(5, encodeTensor(t));
  for (const v of spec.graph.inputs) g.bytes(11, encodeValueInfo(v));
  for (const v of spec.graph.outputs) g.bytes(12, encodeValueInfo(v));

  const opset = new ProtoWriter().string(1, '').varint(2, spec.opset ?? 13).finish();
  const m = new ProtoWriter()
    .varint(1, spec.irVersion ?? 8)
    .string(2, spec.producer ?? 'vegkiosk-onnx-writer')
    .string(3, '1');
  if (spec.docString) m.string(6, spec.docString);
  m.bytes(7, g.finish()).bytes(8, opset);
  for (const o of spec.extraOpsets ?? []) m.bytes(8, new ProtoWriter().string(1, o.domain).varint(2, o.version).finish());
  return m.finish();
}
