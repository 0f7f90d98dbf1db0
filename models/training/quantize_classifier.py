"""An int8 (QDQ) variant of the default classifier, for onnxruntime's CPU int8 kernels.

    /usr/bin/python3 models/training/quantize_classifier.py [--model models/vegetables-v2.onnx]
        [--out models/vegetables-v2-int8.onnx] [--photos 200] [--data DIR]

Post-training static quantisation, written with python3-onnx (there is no onnxruntime for this Python):
- weights: int8, per output channel, symmetric (zero point 0), the layout onnxruntime's QLinearConv takes;
- biases: int32 with scale input_scale * weight_scale[c], so the fused kernel adds them in its
  accumulator exactly as a QLinearConv bias;
- activations (the image, each Conv's output after its ReLU6, each residual Add): uint8, per tensor, from
  ranges measured on Grocery *train* photos (never val, never a held-back class) pushed through the
  runtime's own preprocessing and onnxruntime-node (calibrate_ranges.ts).
Everything after the last 1x1 conv (pooling, centring, normalising, the cosine head) stays float, so the
outputs `logits`, `embedding` and `class_weights` keep their names, type and dynamic batch.

onnxruntime fuses DQ -> Conv -> [Clip] -> Q into QLinearConv and DQ,DQ -> Add -> Q into QLinearAdd; a
Clip whose Q range lies inside [0, 6] is dropped (ClipQuantFusion), which is why a ReLU6 output gets zero
point 0 and a range no wider than 6. The Relu in front of each Clip(0, 6) is redundant and removed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import data as D  # noqa: E402
import samples as S  # noqa: E402

W_QMAX = 127  # symmetric int8: -127..127, so a weight and its negation quantise alike


def calibration_photos(train_rows, coarse_name_of, fine_name_of, count: int) -> list[str]:
    """Every k-th Grocery train vegetable photo in path order: spread over classes and shelf sessions,
    deterministic, and by construction neither val nor a held-back class (samples.grocery_samples)."""
    paths = sorted(s.path for s in S.grocery_samples(train_rows, coarse_name_of, fine_name_of))
    step = max(1, len(paths) // count)
    return paths[::step][:count]


def activation_qparams(lo: float, hi: float, relu6: bool) -> tuple[np.float32, np.uint8]:
    """uint8 scale and zero point covering [lo, hi] and 0 (zero padding must be exact). A ReLU6 output
    gets zero point 0 and at most [0, 6], so onnxruntime can drop its Clip."""
    if relu6:
        lo, hi = 0.0, min(hi, 6.0)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = np.float32(max(hi - lo, 1e-8) / 255.0)
    if relu6:
        # float32 rounding must not let 255 * scale exceed 6, or ClipQuantFusion keeps the Clip.
        while np.float32(scale * np.float32(255.0)) > np.float32(hi):
            scale = np.nextafter(scale, np.float32(0))
        return scale, np.uint8(0)
    return scale, np.uint8(np.clip(round(-lo / float(scale)), 0, 255))


def weight_grid(w: np.ndarray) -> float | None:
    """The step of the uint8 grid a tensor's values lie on, if they do: the frozen stages are Google's
    quantisation-aware weights, dequantised (scale * (q - zero_point), 256 levels at most)."""
    u = np.unique(w.astype(np.float64))
    steps = np.diff(u)
    if len(u) > 256 or not (steps > 0).any():
        return None
    step = steps[steps > 1e-12].min()
    k = w / step
    return float(step) if np.abs(k - np.round(k)).max() < 1e-2 else None


def weight_qparams(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel (axis 0) symmetric int8: (int8 weights, float32 scales). A channel whose values
    lie on the tensor's original grid and fit in -127..127 steps keeps that grid exactly (no second
    rounding); any other channel gets max|w| / 127."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    scale = np.maximum(np.abs(flat).max(axis=1), 1e-12) / W_QMAX
    step = weight_grid(w)
    if step is not None:
        fits = np.abs(np.round(flat / step)).max(axis=1) <= W_QMAX
        scale[fits] = step
    scale = scale.astype(np.float32)
    q = np.clip(np.round(flat / scale[:, None]), -W_QMAX, W_QMAX).astype(np.int8)
    return q.reshape(w.shape), scale


def bias_qparams(b: np.ndarray, input_scale: np.float32, weight_scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = (np.float32(input_scale) * weight_scale).astype(np.float32)
    q = np.clip(np.round(b / scale), -2**31, 2**31 - 1).astype(np.int32)
    return q, scale


def _clip_bounds(node, constants) -> tuple[float, float] | None:
    if node.op_type != "Clip" or len(node.input) < 3:
        return None
    lo, hi = constants.get(node.input[1]), constants.get(node.input[2])
    return None if lo is None or hi is None else (float(lo), float(hi))


def _constants(graph) -> dict:
    from onnx import numpy_helper
    out = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for n in graph.node:
        if n.op_type == "Constant":
            out[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return out


def drop_relu_before_relu6(graph) -> int:
    """Relu -> Clip(0, 6) is Clip(0, 6): rewires each such Clip to the Relu's input and drops the Relu."""
    constants = _constants(graph)
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, int] = {}
    for n in graph.node:
        for i in n.input:
            consumers[i] = consumers.get(i, 0) + 1
    dropped = []
    for n in graph.node:
        bounds = _clip_bounds(n, constants)
        if not bounds or bounds[0] < 0:
            continue
        relu = producers.get(n.input[0])
        if relu is not None and relu.op_type == "Relu" and consumers[relu.output[0]] == 1:
            n.input[0] = relu.input[0]
            dropped.append(relu)
    for r in dropped:
        graph.node.remove(r)
    return len(dropped)


def kept_float(node, keep_float: tuple[str, ...]) -> bool:
    return node.op_type == "Conv" and node.input[1].startswith(keep_float) if keep_float else False


def activation_tensors(graph, keep_float: tuple[str, ...] = ()) -> dict[str, bool]:
    """The tensors to quantise -> whether each is a ReLU6 output: every Conv's output (after its Clip, if
    one follows) and every Add's, except the Convs whose weights' names start with one of keep_float.
    Call after drop_relu_before_relu6."""
    constants = _constants(graph)
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    out = {}
    for n in graph.node:
        if n.op_type == "Add":
            out[n.output[0]] = False
        elif n.op_type == "Conv" and not kept_float(n, keep_float):
            after = consumers.get(n.output[0], [])
            if len(after) == 1 and _clip_bounds(after[0], constants) == (0.0, 6.0):
                out[after[0].output[0]] = True
            else:
                out[n.output[0]] = False
    return out


def instrumented(model, names):
    """A copy whose outputs are the given tensors (for calibrate_ranges.ts)."""
    import onnx
    from onnx import helper
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.output[:]
    m.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    return m


def measure_ranges(model, names, manifest_path: str, photos: list[str]) -> dict:
    """Each tensor's (min, max): the extremes over all photos. They land close to the pretrained TFLite
    file's own ranges, so no percentile is needed; a ReLU6 output is capped at 6 later anyway."""
    import onnx
    with tempfile.TemporaryDirectory(prefix="vk-int8-") as tmp:
        probe, listing, out = (os.path.join(tmp, f) for f in ("probe.onnx", "photos.txt", "ranges.json"))
        onnx.save(instrumented(model, names), probe)
        with open(listing, "w") as f:
            f.write("\n".join(photos) + "\n")
        subprocess.run(["node", "--import", "tsx", os.path.join(HERE, "calibrate_ranges.ts"), probe, manifest_path, listing, out],
                       cwd=REPO, check=True)
        with open(out) as f:
            raw = json.load(f)["ranges"]
    return {name: (min(r["min"]), max(r["max"])) for name, r in raw.items()}


def quantize(model, ranges: dict, relu6: dict[str, bool], keep_float: tuple[str, ...] = ()):
    """Rewrites the graph in place: Q after each activation tensor and one DQ per consumer (onnxruntime
    fuses a DQ into one node group only), weights and biases stored quantised behind a DQ."""
    import onnx
    from onnx import helper, numpy_helper
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    act = {name: activation_qparams(*ranges[name], relu6.get(name, False)) for name in ranges}
    new_inits, head = [], []

    def const(name, array):
        new_inits.append(numpy_helper.from_array(array, name))
        return name

    for name, (scale, zp) in act.items():
        const(f"{name}_scale", np.array(scale, np.float32))
        const(f"{name}_zero_point", np.array(zp, np.uint8))

    for n in g.node:
        if n.op_type != "Conv" or kept_float(n, keep_float):
            continue
        w = numpy_helper.to_array(inits[n.input[1]]).astype(np.float32)
        qw, ws = weight_qparams(w)
        wn = n.input[1]
        head.append(helper.make_node("DequantizeLinear", [const(f"{wn}_quantized", qw), const(f"{wn}_scale", ws),
                                     const(f"{wn}_zero_point", np.zeros(len(ws), np.int8))], [f"{wn}_dequantized"], axis=0))
        g.initializer.remove(inits[wn])
        n.input[1] = f"{wn}_dequantized"
        if len(n.input) > 2 and n.input[2]:
            bn = n.input[2]
            qb, bs = bias_qparams(numpy_helper.to_array(inits[bn]).astype(np.float32), act[n.input[0]][0], ws)
            head.append(helper.make_node("DequantizeLinear", [const(f"{bn}_quantized", qb), const(f"{bn}_scale", bs),
                                         const(f"{bn}_zero_point", np.zeros(len(bs), np.int32))], [f"{bn}_dequantized"], axis=0))
            g.initializer.remove(inits[bn])
            n.input[2] = f"{bn}_dequantized"

    def quantize_node(name):
        return helper.make_node("QuantizeLinear", [name, f"{name}_scale", f"{name}_zero_point"], [f"{name}_quantized"])

    nodes = list(head)
    graph_inputs = {i.name for i in g.input}
    nodes += [quantize_node(name) for name in act if name in graph_inputs]
    uses: dict[str, int] = {}
    for n in g.node:
        for k, name in enumerate(n.input):
            if name in act:
                uses[name] = uses.get(name, 0) + 1
                dq = f"{name}_dequantized_{uses[name]}"
                nodes.append(helper.make_node("DequantizeLinear", [f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"], [dq]))
                n.input[k] = dq
        nodes.append(n)
        nodes += [quantize_node(o) for o in n.output if o in act]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    del g.value_info[:]  # stale shapes of rewired tensors; onnxruntime infers them again
    onnx.checker.check_model(model)
    return model


def write_manifest(float_manifest_path: str, onnx_path: str) -> str:
    """The float model's manifest with the int8 file's name, version and SHA-256; the threshold and the
    head stay (the same network, the same rule); its val figure is re-measured by evaluate-model.ts."""
    with open(float_manifest_path) as f:
        manifest = json.load(f)
    with open(onnx_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest["name"] = f"{manifest['name']}-int8"
    manifest["version"] = f"{manifest['version']}-int8"
    manifest["sha256"] = sha
    manifest.pop("evaluation", None)
    path = onnx_path[:-len(".onnx")] + ".json"
    with open(path, "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
    return path


def main(argv=None) -> None:
    import onnx
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "models", "vegetables-v2.onnx"))
    ap.add_argument("--out", default=os.path.join(REPO, "models", "vegetables-v2-int8.onnx"))
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--data", default=D.default_data_dir())
    ap.add_argument("--keep-float", nargs="*", default=[], help="weight name prefixes of Convs left in float")
    args = ap.parse_args(argv)
    classes, train_rows, _val_rows = D.read_grocery(args.data)
    photos = calibration_photos(train_rows, {c["coarse_id"]: c["coarse"] for c in classes},
                                {c["fine_id"]: c["fine"] for c in classes}, args.photos)
    model = onnx.load(args.model)
    print(f"dropped {drop_relu_before_relu6(model.graph)} Relu in front of Clip(0, 6)")
    keep = tuple(args.keep_float)
    relu6 = activation_tensors(model.graph, keep)
    float_manifest = args.model[:-len(".onnx")] + ".json"
    # calibrate_ranges.ts adds the graph input to the measured tensors itself.
    ranges = measure_ranges(model, list(relu6), float_manifest, photos)
    quantize(model, ranges, relu6, keep)
    onnx.save(model, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {len(ranges)} activation tensors from {len(photos)} "
          f"Grocery train photos) and {write_manifest(float_manifest, args.out)}")


if __name__ == "__main__":
    main()
