"""Which photos the MobileNetV2 classifier trains and validates on: numpy and the standard library only,
so the rules are tested without torch or the photos (test_samples.py, run by `npm test`).

Rules:
- The 15 coarse Grocery vegetable classes are the labels. Grocery train photos of those classes, and
  detection-set train-split box crops of the classes that map onto them (data.DET_TO_VEG), are training
  samples. Grocery val photos are only ever evaluation samples.
- Held back from every stage: the Grocery classes Avocado, Banana, Kiwi, Lemon and Pomegranate and the
  detection classes banana, kiwi and lemon, so that learning them on a kiosk can be tested honestly.
- The detection set's valid split is never read (it is the detector's validation set and the bench's
  frames).
"""
from __future__ import annotations

from dataclasses import dataclass

VEG_LABELS = [
    "Asparagus", "Aubergine", "Cabbage", "Carrots", "Cucumber", "Garlic", "Ginger", "Leek",
    "Mushroom", "Onion", "Pepper", "Potato", "Red-Beet", "Tomato", "Zucchini",
]
DET_TO_VEG = {
    "bell_pepper": "Pepper", "cabbage": "Cabbage", "carrot": "Carrots", "cucumber": "Cucumber",
    "eggplant": "Aubergine", "garlic": "Garlic", "onion": "Onion", "potato": "Potato",
    "sweetpotato": "Potato", "tomato": "Tomato",
}
HELD_BACK_GROCERY = ("Avocado", "Banana", "Kiwi", "Lemon", "Pomegranate")
HELD_BACK_DETECTION = ("banana", "kiwi", "lemon")

GROCERY, DETECTION = 0, 1


@dataclass(frozen=True)
class Sample:
    path: str
    label: int  # index into VEG_LABELS
    source: int  # GROCERY or DETECTION
    box: tuple[float, float, float, float] | None = None  # normalised cx, cy, w, h of a detection crop
    fine: str = ""  # the Grocery fine class, or the detection class name (for stratified folds)


def grocery_samples(rows, coarse_name_of: dict[int, str], fine_name_of: dict[int, str]) -> list[Sample]:
    """rows: (path, fine_id, coarse_id) of one Grocery split; keeps the vegetables, never a held-back class."""
    out = []
    for path, fine, coarse in rows:
        name = coarse_name_of[coarse]
        if name in HELD_BACK_GROCERY or name not in VEG_LABELS:
            continue
        out.append(Sample(path, VEG_LABELS.index(name), GROCERY, None, fine_name_of[fine]))
    return out


def detection_samples(boxes, det_names: list[str], split: str, min_side_px: float = 32.0,
                      image_px: float = 416.0) -> list[Sample]:
    """boxes: (image_path, class_id, (cx, cy, w, h)) of one detection split; only the train split is
    accepted, only classes that map to a vegetable, never a held-back class, never a box under min_side_px."""
    if split != "train":
        raise ValueError(f"detection split {split!r} is not a classifier training source (only 'train')")
    out = []
    for path, c, box in boxes:
        name = det_names[c]
        if name in HELD_BACK_DETECTION or name not in DET_TO_VEG:
            continue
        if box[2] * image_px < min_side_px or box[3] * image_px < min_side_px:
            continue
        out.append(Sample(path, VEG_LABELS.index(DET_TO_VEG[name]), DETECTION, tuple(box), name))
    return out


def draw_weights(samples: list[Sample], grocery_share: float) -> list[float]:
    """Per-sample draw probability: grocery_share of the mass on Grocery photos (the kiosk-like domain),
    the rest on detection crops; within each source every class gets the same mass, so rare classes
    (Ginger, Red-Beet, Asparagus) are drawn as often as common ones. Sums to 1."""
    weights = [0.0] * len(samples)
    for source, share in ((GROCERY, grocery_share), (DETECTION, 1.0 - grocery_share)):
        members = [i for i, s in enumerate(samples) if s.source == source]
        if not members:
            continue
        classes = sorted({samples[i].label for i in members})
        count = {k: sum(1 for i in members if samples[i].label == k) for k in classes}
        for i in members:
            weights[i] = share / len(classes) / count[samples[i].label]
    total = sum(weights)
    return [w / total for w in weights]


def grouped_folds(samples: list[Sample], k: int) -> list[list[int]]:
    """K folds over the Grocery samples, stratified by fine class: each fine class's photos in file-name
    order cut into k contiguous blocks, one per fold (consecutive Grocery photos of a class are near-copies
    from one shelf and session, so random folds would put near-copies of test photos into training). The
    block a class starts at rotates with the class, so fold sizes stay even. Detection crops are in no fold."""
    folds: list[list[int]] = [[] for _ in range(k)]
    fines = sorted({s.fine for s in samples if s.source == GROCERY})
    for offset, fine in enumerate(fines):
        members = sorted((i for i, s in enumerate(samples) if s.source == GROCERY and s.fine == fine),
                         key=lambda i: samples[i].path)
        n = len(members)
        for j in range(k):
            block = members[j * n // k:(j + 1) * n // k]
            folds[(j + offset) % k].extend(block)
    return folds
