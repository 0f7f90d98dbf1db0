"""Detection mean average precision, VOC/COCO style, in numpy: the one implementation the training's
validation and scripts/score-detector.py share, so the number a checkpoint is chosen by is the number
the shipped model is scored by.

AP per class is the area under the all-point interpolated precision-recall curve (precision made
monotone from the right, summed over every recall step), as in VOC 2010+ and the COCO toolkit's
definition without its 101-point sampling. Detections are matched greedily, best score first, to the
unmatched ground truth of their class with the highest IoU at or above the threshold. Classes with no
ground truth in the split are left out of the mean (their AP is undefined), as COCO does.
"""
from __future__ import annotations

import numpy as np

COCO_IOUS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, 4] x [m, 4] x1y1x2y2 → [n, m]."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolated area under a PR curve given in score order."""
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([1.0 if len(precision) else 0.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def class_ap(detections, truths, iou_threshold: float) -> float | None:
    """detections: [(image id, score, box)]; truths: {image id: [n, 4] boxes}, all of one class.

    None when the class has no ground truth.
    """
    total = sum(len(b) for b in truths.values())
    if total == 0:
        return None
    order = sorted(range(len(detections)), key=lambda i: -detections[i][1])
    used = {img: np.zeros(len(b), bool) for img, b in truths.items()}
    tp = np.zeros(len(order))
    for rank, i in enumerate(order):
        img, _, box = detections[i]
        gt = truths.get(img)
        if gt is None or len(gt) == 0:
            continue
        ious = box_iou(np.asarray(box)[None], gt)[0]
        ious[used[img]] = -1
        j = int(np.argmax(ious))
        if ious[j] >= iou_threshold:
            used[img][j] = True
            tp[rank] = 1
    tp_cum = np.cumsum(tp)
    recall = tp_cum / total
    precision = tp_cum / np.arange(1, len(order) + 1)
    return average_precision(recall, precision)


def evaluate(predictions, ground_truth, class_names, ious=COCO_IOUS):
    """predictions: {image id: [(class index, score, box)]}; ground_truth: {image id: [(class index, box)]}.

    Returns {"map50", "map50_95", "per_class": {name: {"ap50", "ap50_95", "truths", "detections"}}}.
    """
    per_class = {}
    ap50s, ap_all = [], []
    for c, name in enumerate(class_names):
        truths = {img: np.asarray([b for k, b in objs if k == c], np.float64).reshape(-1, 4) for img, objs in ground_truth.items()}
        dets = [(img, s, b) for img, ds in predictions.items() for k, s, b in ds if k == c]
        aps = [class_ap(dets, truths, t) for t in ious]
        n_truths = sum(len(b) for b in truths.values())
        if aps[0] is None:
            per_class[name] = {"ap50": None, "ap50_95": None, "truths": 0, "detections": len(dets)}
            continue
        ap50, ap5095 = aps[0], float(np.mean(aps))
        per_class[name] = {"ap50": ap50, "ap50_95": ap5095, "truths": n_truths, "detections": len(dets)}
        ap50s.append(ap50)
        ap_all.append(ap5095)
    return {
        "map50": float(np.mean(ap50s)) if ap50s else 0.0,
        "map50_95": float(np.mean(ap_all)) if ap_all else 0.0,
        "per_class": per_class,
    }
