"""Exports a YOLOX-Nano with its decoding in the graph, in the layout vegkiosk's runtime reads (`yolov8`).

Output `output` [N, 4 + C, anchors]: cx, cy, w, h in input pixels, then per-class scores = objectness x
class probability, anchors stride 8, 16, 32 row-major. The manifest beside it says what the runtime
must feed: BGR 0..255 (mean 0, std 1/255 since the runtime computes (byte/255 - mean) / std), letterboxed
with grey 114 as YOLOX trained.

    # the COCO model as it comes, to check the runtime's decoding on real boxes
    /usr/bin/python3 models/training/detector/export_detector.py --coco --size 416 --out /tmp/yolox-coco-416.onnx
    # a fine-tuned checkpoint (train_detector.py writes it)
    /usr/bin/python3 models/training/detector/export_detector.py --checkpoint /tmp/vk-det/produce-detector-v1/best.pt \
        --out models/produce-detector-v1.onnx
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings

import torch
from torch import nn

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from detector.yolox_nano import STRIDES, YoloxNano, decode_boxes, flatten_levels, grids  # noqa: E402
    from detector.onnx_weights import load_onnx_weights  # noqa: E402
else:
    from .yolox_nano import STRIDES, YoloxNano, decode_boxes, flatten_levels, grids
    from .onnx_weights import load_onnx_weights

HERE = os.path.dirname(os.path.abspath(__file__))
PRETRAINED_DIR = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", "shared", "pretrained"))
OPSET = 13


class DecodedDetector(nn.Module):
    """YoloxNano plus its box decoding and score product, for one fixed input side."""

    def __init__(self, net: YoloxNano, side: int):
        super().__init__()
        self.net = net
        sizes = [(side // s, side // s) for s in STRIDES]
        gx, gy, stride = grids(sizes)
        # Constants of the graph: the anchor grid of this input size.
        self.register_buffer("gx", gx)
        self.register_buffer("gy", gy)
        self.register_buffer("stride", stride)

    def forward(self, x):
        flat = flatten_levels(self.net(x))
        boxes = decode_boxes(flat, self.gx, self.gy, self.stride)
        scores = flat[..., 4:5].sigmoid() * flat[..., 5:].sigmoid()
        return torch.cat((boxes, scores), -1).permute(0, 2, 1)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export(net: YoloxNano, side: int, out_path: str, labels, name: str, version: str,
           score: float, iou: float, extra: dict | None = None) -> dict:
    """Writes <out>.onnx and its manifest <out>.json; returns the manifest."""
    if side % 32:
        raise ValueError(f"input side must be a multiple of 32 (the coarsest stride), got {side}")
    if len(labels) != net.head.num_classes:
        raise ValueError(f"{len(labels)} labels for a head with {net.head.num_classes} classes")
    model = DecodedDetector(net.eval(), side).eval()
    dummy = torch.full((1, 3, side, side), 114.0)
    with warnings.catch_warnings():
        # The exporter's shape-inference notices about the fixed-size graph are expected, not actionable.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, dummy, out_path, opset_version=OPSET, input_names=["images"], output_names=["output"],
                          do_constant_folding=True)
    manifest = {
        "name": name,
        "version": version,
        "kind": "detector",
        "labels": list(labels),
        "input": {"width": side, "height": side, "layout": "NCHW", "color": "BGR",
                  "mean": [0, 0, 0], "std": [1 / 255, 1 / 255, 1 / 255], "resize": "letterbox"},
        "output": {"format": "yolov8"},
        "thresholds": {"score": score, "iou": iou},
        "sha256": sha256_file(out_path),
    }
    if extra:
        manifest.update(extra)
    with open(out_path[: -len(".onnx")] + ".json", "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def coco_network(pretrained_dir: str = PRETRAINED_DIR) -> YoloxNano:
    net = YoloxNano(80)
    load_onnx_weights(net, os.path.join(pretrained_dir, "yolox_nano.onnx"))
    return net


def coco_labels(pretrained_dir: str = PRETRAINED_DIR):
    with open(os.path.join(pretrained_dir, "coco_classes.txt")) as f:
        return [line.strip() for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--coco", action="store_true", help="the pretrained COCO network, 80 classes")
    src.add_argument("--checkpoint", help="a train_detector.py checkpoint (.pt)")
    ap.add_argument("--size", type=int, help="input side (default: the checkpoint's, or 416 for --coco)")
    ap.add_argument("--out", required=True, help="path ending in .onnx; the manifest goes beside it")
    ap.add_argument("--score", type=float, help="manifest score threshold (default: the checkpoint's, 0.3 for --coco)")
    ap.add_argument("--iou", type=float, default=0.45)
    args = ap.parse_args(argv)
    if not args.out.endswith(".onnx"):
        ap.error("--out must end in .onnx")
    if args.coco:
        net, labels, name, version, extra = coco_network(), coco_labels(), "yolox-nano-coco", "0.0.0", {}
        size, score = args.size or 416, args.score if args.score is not None else 0.3
    else:
        ckpt = torch.load(args.checkpoint, map_location="cpu")
        labels = ckpt["labels"]
        net = YoloxNano(len(labels))
        net.load_state_dict(ckpt["model"])
        name, version = ckpt["name"], ckpt["version"]
        size = args.size or ckpt["input_size"]
        score = args.score if args.score is not None else ckpt.get("score_threshold", 0.3)
        extra = {"training": ckpt.get("summary", {})}
    manifest = export(net, size, args.out, labels, name, version, score, args.iou, extra)
    print(f"{args.out}: {os.path.getsize(args.out)} bytes, {len(labels)} classes, {size} px, sha256 {manifest['sha256'][:16]}…")


if __name__ == "__main__":
    main()
