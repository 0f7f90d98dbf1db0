"""ONNX export of the trained network (logits + L2-normalised embedding) and its vegkiosk manifest."""
from __future__ import annotations

import hashlib
import json
import os

import torch

import data as D
from fit import MEAN, STD, log
from net import ExportWrapper


def export(m, args, results):
    import onnx
    m.eval()
    w = ExportWrapper(m, flip=args.tta == "flip", width=args.size).eval()
    os.makedirs(args.out_dir, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, args.name + ".onnx")
    x = torch.zeros(1, 3, args.size, args.size)
    torch.onnx.export(w, x, onnx_path, opset_version=13, input_names=["input"],
                      output_names=["logits", "embedding"], do_constant_folding=True,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}, "embedding": {0: "batch"}})
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model)
    ops = sorted({n.op_type for n in model.graph.node})
    log("onnx ops", ops)
    with open(onnx_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "name": args.name, "version": args.version, "kind": "classifier", "labels": D.VEG_LABELS,
        "input": {"width": args.size, "height": args.size, "layout": "NCHW", "color": "RGB",
                  "mean": MEAN, "std": STD, "resize": "stretch"},
        "output": {"format": "logits"},
        "thresholds": {"score": 0.5, "iou": 0.45},
        "sha256": sha,
    }
    with open(os.path.join(args.out_dir, args.name + ".json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    results["onnx"] = {"path": onnx_path, "bytes": os.path.getsize(onnx_path), "sha256": sha, "ops": ops}
    log("exported", onnx_path, os.path.getsize(onnx_path), "bytes sha256", sha)
