"""ONNX export of the MobileNetV2 classifier and its vegkiosk manifest.

Outputs, in this order (the runtime takes the first output not named `embedding` as the result):
`logits` [N, classes], calibrated (softmax them for a score); `embedding` [N, 1280], L2-normalised;
`class_weights` [classes, 1280], the cosine head's normalised weights (a constant). The rule, also in the
manifest's `head`: logits = scale * embedding @ class_weights^T, so a class learned on site is one more
normalised row and its logit is computed the same way.
"""
from __future__ import annotations

import hashlib
import json
import os

import torch

from classifier_net import ExportedClassifier
from finetune import log
from samples import VEG_LABELS


def _constant_value(name: str, producers: dict, initializers: dict):
    """The value of `name` when it is computed from constants only (torch builds a Pad's pads with a
    Concat/Reshape/Slice/Transpose/Cast chain); None when it depends on the input."""
    import numpy as np
    from onnx import numpy_helper
    if name in initializers:
        return initializers[name]
    n = producers.get(name)
    if n is None:
        return None
    if n.op_type == "Constant":
        return numpy_helper.to_array(n.attribute[0].t)
    args = [_constant_value(i, producers, initializers) if i else None for i in n.input]
    if any(a is None for a, i in zip(args, n.input) if i):
        return None
    attr = {a.name: a for a in n.attribute}
    if n.op_type == "ConstantOfShape":
        fill = numpy_helper.to_array(attr["value"].t) if "value" in attr else np.zeros(1, np.float32)
        return np.full([int(d) for d in args[0]], fill.reshape(-1)[0], dtype=fill.dtype)
    if n.op_type == "Concat":
        return np.concatenate(args, axis=attr["axis"].i)
    if n.op_type == "Reshape":
        return args[0].reshape([int(d) for d in args[1]])
    if n.op_type == "Transpose":
        return args[0].transpose(list(attr["perm"].ints) if "perm" in attr else None)
    if n.op_type == "Cast":
        return args[0].astype(np.int64)
    if n.op_type == "Slice":
        data, starts, ends = args[0], args[1], args[2]
        axes = args[3] if len(args) > 3 and args[3] is not None else range(len(starts))
        steps = args[4] if len(args) > 4 and args[4] is not None else [1] * len(starts)
        index = [slice(None)] * data.ndim
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(st), None if (int(sp) < 0 and int(en) < -data.shape[int(ax)]) else int(en), int(sp))
        return data[tuple(index)]
    return None


def fold_pads_into_convs(m) -> int:
    """TF SAME padding exports as a zero Pad before each stride-2 conv; ONNX Conv takes asymmetric
    `pads` itself, so each such Pad is folded into its Conv (one node and one copy of the map less)."""
    from onnx import helper, numpy_helper
    g = m.graph
    initializers = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    users = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)
    folded = 0
    for pad in [n for n in g.node if n.op_type == "Pad"]:
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        pads = _constant_value(pad.input[1], producers, initializers) if len(pad.input) > 1 else None
        value = _constant_value(pad.input[2], producers, initializers) if len(pad.input) > 2 and pad.input[2] else None
        convs = users.get(pad.output[0], [])
        if mode != b"constant" or pads is None or (value is not None and float(value) != 0.0) or \
                len(convs) != 1 or convs[0].op_type != "Conv":
            continue
        pads = [int(p) for p in pads.reshape(-1)]  # NCHW begins, then ends
        if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
            continue
        conv = convs[0]
        old = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0, 0, 0, 0])
        new = [old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]]
        for a in list(conv.attribute):
            if a.name == "pads":
                conv.attribute.remove(a)
        conv.attribute.append(helper.make_attribute("pads", new))
        conv.input[0] = pad.input[0]
        g.node.remove(pad)
        folded += 1
    _drop_unused(g)
    return folded


def _drop_unused(g):
    needed = {o.name for o in g.output}
    for n in reversed(list(g.node)):
        if any(o in needed for o in n.output):
            needed.update(i for i in n.input if i)
        else:
            g.node.remove(n)
    for init in list(g.initializer):
        if init.name not in needed:
            g.initializer.remove(init)


def export(model, r, temperature: float, threshold: float, out_dir: str) -> dict:
    import onnx
    wrapper = ExportedClassifier(model.eval(), temperature).eval()
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, r.name + ".onnx")
    x = torch.zeros(1, 3, r.input_size, r.input_size)
    torch.onnx.export(wrapper, x, onnx_path, opset_version=13, input_names=["input"],
                      output_names=["logits", "embedding", "class_weights"], do_constant_folding=True,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}, "embedding": {0: "batch"}})
    m = onnx.load(onnx_path)
    fold_pads_into_convs(m)
    onnx.checker.check_model(m)
    onnx.save(m, onnx_path)
    ops = sorted({n.op_type for n in m.graph.node})
    with open(onnx_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "name": r.name, "version": r.version, "kind": "classifier", "labels": VEG_LABELS,
        "input": {"width": r.input_size, "height": r.input_size, "layout": "NCHW", "color": "RGB",
                  "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "resize": "center-crop"},
        "output": {"format": "logits"},
        "thresholds": {"score": threshold, "iou": 0.45},
        "head": {"kind": "cosine", "scale": wrapper.scale, "embedding": "embedding", "classWeights": "class_weights",
                 "temperature": temperature},
        "sha256": sha,
    }
    with open(os.path.join(out_dir, r.name + ".json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    log("exported", onnx_path, os.path.getsize(onnx_path), "bytes, sha256", sha, "ops", ops)
    return {"path": onnx_path, "bytes": os.path.getsize(onnx_path), "sha256": sha, "ops": ops}
