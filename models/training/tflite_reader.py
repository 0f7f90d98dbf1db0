"""Reads a TensorFlow Lite flatbuffer with python3-flatbuffers' generic Table API (no TFLite runtime
exists on these machines).

Only what a convolutional classifier needs: the operators in execution order, each with its builtin
code, input and output tensors and its convolution options; every tensor with its shape, type, name,
quantisation and data. Field slots follow tensorflow/lite/schema/schema.fbs (a field's vtable slot is
its declaration index).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import flatbuffers
import numpy as np
from flatbuffers.table import Table

# schema.fbs BuiltinOperator values used by MobileNetV2
ADD, AVERAGE_POOL_2D, CONV_2D, DEPTHWISE_CONV_2D, RESHAPE, SOFTMAX = 0, 1, 3, 4, 22, 25
# ActivationFunctionType
ACT_NONE, ACT_RELU, ACT_RELU6 = 0, 1, 3
# Padding
PAD_SAME, PAD_VALID = 0, 1
_NUMPY_OF_TYPE = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}


@dataclass
class TfliteTensor:
    name: str
    shape: tuple[int, ...]
    dtype: type
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    data: np.ndarray | None  # raw stored values (quantised), None for activations

    def dequantised(self) -> np.ndarray:
        """real = scale * (q - zero_point), per tensor or per channel along axis 0."""
        if self.data is None:
            raise ValueError(f"tensor {self.name} holds no data")
        q = self.data.astype(np.float64)
        if self.scale is None or len(self.scale) == 0:
            return q.astype(np.float32)
        shape = (-1,) + (1,) * (q.ndim - 1) if len(self.scale) > 1 else ()
        scale = self.scale.reshape(shape) if shape else self.scale[0]
        zp = (self.zero_point if self.zero_point is not None else np.zeros(1)).astype(np.float64)
        zp = zp.reshape(shape) if shape and len(zp) > 1 else zp[0]
        return (scale * (q - zp)).astype(np.float32)


@dataclass
class TfliteOperator:
    opcode: int
    inputs: list[int]
    outputs: list[int]
    padding: int | None = None
    stride: tuple[int, int] | None = None  # (h, w)
    activation: int = ACT_NONE
    options: dict = field(default_factory=dict)


@dataclass
class TfliteModel:
    tensors: list[TfliteTensor]
    operators: list[TfliteOperator]
    inputs: list[int]
    outputs: list[int]


def _table(buf: bytes, pos: int) -> Table:
    return Table(buf, pos)


def _field_pos(t: Table, slot: int) -> int:
    return t.Offset(4 + 2 * slot)


def _scalar(t: Table, slot: int, kind, default=0):
    o = _field_pos(t, slot)
    return t.Get(kind, o + t.Pos) if o else default


def _sub_table(t: Table, slot: int) -> Table | None:
    o = _field_pos(t, slot)
    return Table(t.Bytes, t.Indirect(o + t.Pos)) if o else None


def _vector_tables(t: Table, slot: int) -> list[Table]:
    o = _field_pos(t, slot)
    if not o:
        return []
    start, n = t.Vector(o), t.VectorLen(o)
    return [Table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(n)]


def _vector_numpy(t: Table, slot: int, kind) -> np.ndarray:
    o = _field_pos(t, slot)
    if not o:
        return np.zeros(0, dtype=kind.bytewidth == 8 and np.int64 or np.int32)
    return t.GetVectorAsNumpy(kind, o)


def _string(t: Table, slot: int) -> str:
    o = _field_pos(t, slot)
    return t.String(o + t.Pos).decode() if o else ""


def read_tflite(path: str) -> TfliteModel:
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    root = Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))
    N = flatbuffers.number_types
    # Model: version 0, operator_codes 1, subgraphs 2, description 3, buffers 4
    op_codes = []
    for oc in _vector_tables(root, 1):
        # OperatorCode: deprecated_builtin_code (byte) 0, custom_code 1, version 2, builtin_code (int) 3
        code = max(_scalar(oc, 0, N.Int8Flags), _scalar(oc, 3, N.Int32Flags))
        op_codes.append(code)
    buffers = [_vector_numpy(b, 0, N.Uint8Flags) for b in _vector_tables(root, 4)]
    subgraphs = _vector_tables(root, 2)
    if len(subgraphs) != 1:
        raise ValueError(f"{path}: expected one subgraph, found {len(subgraphs)}")
    sg = subgraphs[0]
    tensors = []
    # SubGraph: tensors 0, inputs 1, outputs 2, operators 3
    for tt in _vector_tables(sg, 0):
        # Tensor: shape 0, type 1, buffer 2, name 3, quantization 4
        shape = tuple(int(x) for x in _vector_numpy(tt, 0, N.Int32Flags))
        ttype = _scalar(tt, 1, N.Int8Flags)
        dtype = _NUMPY_OF_TYPE.get(ttype)
        if dtype is None:
            raise ValueError(f"{path}: tensor type {ttype} not supported")
        raw = buffers[_scalar(tt, 2, N.Uint32Flags)]
        data = np.frombuffer(raw.tobytes(), dtype=dtype).reshape(shape) if len(raw) else None
        q = _sub_table(tt, 4)
        scale = zp = None
        if q is not None:
            # QuantizationParameters: min 0, max 1, scale 2, zero_point 3
            scale = _vector_numpy(q, 2, N.Float32Flags).astype(np.float64)
            zp = _vector_numpy(q, 3, N.Int64Flags).astype(np.int64)
        tensors.append(TfliteTensor(_string(tt, 3), shape, dtype, scale, zp, data))
    operators = []
    for ot in _vector_tables(sg, 3):
        # Operator: opcode_index 0, inputs 1, outputs 2, builtin_options_type 3, builtin_options 4
        op = TfliteOperator(
            opcode=op_codes[_scalar(ot, 0, N.Uint32Flags)],
            inputs=[int(x) for x in _vector_numpy(ot, 1, N.Int32Flags)],
            outputs=[int(x) for x in _vector_numpy(ot, 2, N.Int32Flags)],
        )
        opt = _sub_table(ot, 4)
        if op.opcode == CONV_2D and opt is not None:
            # Conv2DOptions: padding 0, stride_w 1, stride_h 2, fused_activation_function 3
            op.padding = _scalar(opt, 0, N.Int8Flags)
            op.stride = (_scalar(opt, 2, N.Int32Flags), _scalar(opt, 1, N.Int32Flags))
            op.activation = _scalar(opt, 3, N.Int8Flags)
        elif op.opcode == DEPTHWISE_CONV_2D and opt is not None:
            # DepthwiseConv2DOptions: padding 0, stride_w 1, stride_h 2, depth_multiplier 3, activation 4
            op.padding = _scalar(opt, 0, N.Int8Flags)
            op.stride = (_scalar(opt, 2, N.Int32Flags), _scalar(opt, 1, N.Int32Flags))
            op.activation = _scalar(opt, 4, N.Int8Flags)
        elif op.opcode == ADD and opt is not None:
            # AddOptions: fused_activation_function 0
            op.activation = _scalar(opt, 0, N.Int8Flags)
        operators.append(op)
    inputs = [int(x) for x in _vector_numpy(sg, 1, N.Int32Flags)]
    outputs = [int(x) for x in _vector_numpy(sg, 2, N.Int32Flags)]
    return TfliteModel(tensors, operators, inputs, outputs)
