"""Scores `vegkiosk classify --json` output against a YOLO split: the logic of scripts/score-detector.py.

The boxes vegkiosk prints are normalised 0..1 to the photo, as YOLO labels are; IoU does not change under
scaling each axis, so both are compared as they come, without knowing the photo's size.
"""
from __future__ import annotations

import json
import os

from .detection_data import parse_label_text
from .detection_metrics import evaluate


def ground_truth(samples, class_names):
    """{image path: [(class index, box x1y1x2y2 in 0..1)]} from the split's label files."""
    truth = {}
    for s in samples:
        text = open(s.label).read() if os.path.exists(s.label) else ""
        classes, boxes = parse_label_text(text, len(class_names), 1, 1, s.label)
        truth[os.path.abspath(s.image)] = list(zip(classes.tolist(), boxes.tolist()))
    return truth


def predictions_from_lines(lines, class_names):
    """classify --json lines → ({image path: [(class index, score, box)]}, labels the data set does not have).

    A detection whose label is not a class of the data set (a COCO model's "person") counts for nothing
    and is reported, so scoring another model's labels is possible but never silent.
    """
    index = {name: i for i, name in enumerate(class_names)}
    predictions, foreign = {}, {}
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        dets = []
        for d in record.get("detections", []):
            if d["label"] in index:
                dets.append((index[d["label"]], float(d["score"]), [float(v) for v in d["box"]]))
            else:
                foreign[d["label"]] = foreign.get(d["label"], 0) + 1
        predictions[os.path.abspath(record["file"])] = dets
    return predictions, foreign


def score(lines, samples, class_names):
    truth = ground_truth(samples, class_names)
    predictions, foreign = predictions_from_lines(lines, class_names)
    missing = sorted(set(truth) - set(predictions))
    for image in missing:
        predictions[image] = []  # a photo classify could not read found nothing
    result = evaluate({k: v for k, v in predictions.items() if k in truth}, truth, class_names)
    result["images"] = len(truth)
    result["unread_images"] = missing
    result["foreign_labels"] = foreign
    return result


def format_table(result, title):
    rows = [title, f"mAP@0.5 {result['map50']:.3f}   mAP@0.5:0.95 {result['map50_95']:.3f}   "
                   f"({result['images']} images, classes with objects: "
                   f"{sum(1 for c in result['per_class'].values() if c['truths'])})", "",
            f"{'class':<15}{'objects':>8}{'AP@0.5':>9}{'AP@.5:.95':>11}"]
    for name, c in result["per_class"].items():
        if c["ap50"] is None:
            rows.append(f"{name:<15}{0:>8}{'-':>9}{'-':>11}")
        else:
            rows.append(f"{name:<15}{c['truths']:>8}{c['ap50']:>9.3f}{c['ap50_95']:>11.3f}")
    if result["unread_images"]:
        rows.append(f"\n{len(result['unread_images'])} image(s) without a classify result (counted as finding nothing)")
    if result["foreign_labels"]:
        rows.append(f"\nlabels not in the data set, ignored: {result['foreign_labels']}")
    return "\n".join(rows)


def format_markdown(result, compare=None, compare_title=None):
    """The model card's per-class table; compare (another score() result, say the same weights at another
    input size) adds its AP@0.5 as a last column."""
    extra = compare is not None
    head = "| class | objects in valid | AP@0.5 | AP@0.5:0.95 |" + (f" {compare_title} |" if extra else "")
    rows = [head, "| --- | ---: | ---: | ---: |" + (" ---: |" if extra else "")]
    ap = lambda v: "-" if v is None else f"{v:.3f}"
    for name, c in result["per_class"].items():
        row = f"| {name} | {c['truths']} | {ap(c['ap50'])} | {ap(c['ap50_95'])} |"
        rows.append(row + (f" {ap(compare['per_class'][name]['ap50'])} |" if extra else ""))
    total = sum(c["truths"] for c in result["per_class"].values())
    counted = sum(1 for c in result["per_class"].values() if c["truths"])
    rows.append(f"| **all (mean of {counted})** | {total} | **{result['map50']:.3f}** | **{result['map50_95']:.3f}** |"
                + (f" {compare['map50']:.3f} |" if extra else ""))
    return "\n".join(rows)
