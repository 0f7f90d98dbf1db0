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
    onnx.checker.check_model(m)
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
