"""Dataset indexing and the decoded-image cache for the vegkiosk classifier recipe.

Photos are read from the shared data folder (never from, nor copied into, the repository) and decoded once
into a numpy cache outside the repository (default /tmp/vegkiosk-cache). Nothing derived from a photo is
ever written under models/.
"""
from __future__ import annotations

import csv
import hashlib
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image

# The 15 coarse vegetable classes, spelled exactly as in grocery/dataset/classes.csv.
VEG_LABELS = [
    "Asparagus", "Aubergine", "Cabbage", "Carrots", "Cucumber", "Garlic", "Ginger", "Leek",
    "Mushroom", "Onion", "Pepper", "Potato", "Red-Beet", "Tomato", "Zucchini",
]

# Detection-set (fruits-vegetables-yolo, data.yaml order) class -> coarse vegetable label, where one matches.
# The Grocery "Pepper" class holds bell peppers only (so chilli_pepper is not mapped) and its "Potato" class
# holds Sweet-Potato as a fine class (so sweetpotato maps to Potato).
DET_TO_VEG = {
    "bell_pepper": "Pepper", "cabbage": "Cabbage", "carrot": "Carrots", "cucumber": "Cucumber",
    "eggplant": "Aubergine", "garlic": "Garlic", "onion": "Onion", "potato": "Potato",
    "sweetpotato": "Potato", "tomato": "Tomato",
}

CACHE_VERSION = 3


def default_data_dir() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    return os.path.realpath(os.path.join(repo, "..", "shared", "data"))


def read_grocery(data_dir: str):
    """Returns (classes, train_rows, val_rows); rows are (abs_path, fine_id, coarse_id)."""
    root = os.path.join(data_dir, "grocery", "dataset")
    classes = []
    with open(os.path.join(root, "classes.csv"), newline="") as f:
        r = csv.reader(f)
        next(r)
        for row in r:
            classes.append({"fine": row[0], "fine_id": int(row[1]), "coarse": row[2], "coarse_id": int(row[3]),
                            "kind": row[4].split("/")[2]})

    def rows(name):
        out = []
        with open(os.path.join(root, name)) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                p, fine, coarse = [x.strip() for x in line.split(",")]
                out.append((os.path.join(root, p), int(fine), int(coarse)))
        return out

    return classes, rows("train.txt"), rows("val.txt")


def read_det_names(data_dir: str):
    names = []
    with open(os.path.join(data_dir, "fruits-vegetables-yolo", "data.yaml")) as f:
        in_names = False
        for line in f:
            if line.startswith("names:"):
                in_names = True
                continue
            if in_names:
                if line.startswith("- "):
                    names.append(line[2:].strip())
                else:
                    in_names = False
    return names


def det_boxes(data_dir: str, split: str = "train", margin: float = 0.15, min_side_px: float = 32.0):
    """Yields (image_path, class_id, box_xyxy_in_pixels) for every labelled box large enough to classify."""
    root = os.path.join(data_dir, "fruits-vegetables-yolo", split)
    out = []
    for name in sorted(os.listdir(os.path.join(root, "images"))):
        stem = os.path.splitext(name)[0]
        lab = os.path.join(root, "labels", stem + ".txt")
        if not os.path.exists(lab):
            continue
        with open(lab) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 5:
                    continue
                c = int(parts[0])
                cx, cy, w, h = (float(x) for x in parts[1:])
                out.append((os.path.join(root, "images", name), c, (cx, cy, w, h)))
    return out


def _load_rgb(path: str) -> Image.Image:
    im = Image.open(path)
    im.load()
    return im.convert("RGB")


def _job(args):
    kind, path, box, train_size, eval_size = args
    im = _load_rgb(path)
    if box is not None:
        W, H = im.size
        cx, cy, w, h = box
        w2, h2 = w * 1.15 / 2, h * 1.15 / 2  # 15% context margin
        x1, y1 = max(0.0, (cx - w2) * W), max(0.0, (cy - h2) * H)
        x2, y2 = min(float(W), (cx + w2) * W), min(float(H), (cy + h2) * H)
        im = im.crop((int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2))))
    tr = np.asarray(im.resize((train_size, train_size), Image.BICUBIC, reducing_gap=None), dtype=np.uint8)
    ev = None
    if eval_size:
        ev = runtime_resize(path, eval_size)
    return tr, ev


def runtime_resize(path: str, size: int) -> np.ndarray:
    """The runtime's "stretch" preprocessing as closely as PIL gets to it: vegkiosk decodes JPEGs with
    libjpeg's shrink-on-load (DCT scaling to the smallest 1/2..1/8 scale still >= the target) and then
    resizes with a linear kernel; Image.draft is the same libjpeg scaling."""
    im = Image.open(path)
    im.draft("RGB", (size, size))
    im = im.convert("RGB")
    return np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def build_cache(data_dir: str, cache_dir: str, train_size: int, eval_size: int, workers: int = 2):
    """Decodes every Grocery train/val photo and every detection train-split box crop once."""
    key = hashlib.sha1(f"{CACHE_VERSION}|{os.path.realpath(data_dir)}|{train_size}|{eval_size}".encode()).hexdigest()[:10]
    path = os.path.join(cache_dir, f"cache-{train_size}-{eval_size}-{key}.npz")
    if os.path.exists(path):
        z = np.load(path, allow_pickle=False)
        return {k: z[k] for k in z.files}
    os.makedirs(cache_dir, exist_ok=True)
    classes, train_rows, val_rows = read_grocery(data_dir)
    det_names = read_det_names(data_dir)
    boxes = [b for b in det_boxes(data_dir) if b[2][2] * 416 >= 32 and b[2][3] * 416 >= 32]

    jobs = []
    meta = []  # (source, split, fine_or_det_id, coarse_id)
    for split, rows in (("train", train_rows), ("val", val_rows)):
        for p, fine, coarse in rows:
            jobs.append(("g", p, None, train_size, eval_size))
            meta.append((0, 0 if split == "train" else 1, fine, coarse))
    for p, c, box in boxes:
        jobs.append(("d", p, box, train_size, 0))
        meta.append((1, 0, c, -1))
    with ProcessPoolExecutor(max_workers=workers) as ex:
        res = list(ex.map(_job, jobs, chunksize=32))
    train_imgs = np.stack([r[0] for r in res])
    g_idx = [i for i, m in enumerate(meta) if m[0] == 0]
    eval_imgs = np.stack([res[i][1] for i in g_idx])
    meta = np.array(meta, dtype=np.int64)
    fine_names = np.array([c["fine"] for c in classes])
    coarse_names = np.array(sorted({(c["coarse_id"], c["coarse"]) for c in classes}), dtype=object)
    kinds = np.array([c["kind"] for c in classes])
    out = {
        "train_imgs": train_imgs, "eval_imgs": eval_imgs, "meta": meta, "eval_index": np.array(g_idx),
        "fine_names": fine_names, "fine_coarse": np.array([c["coarse_id"] for c in classes]),
        "coarse_names": np.array([n for _, n in coarse_names]), "kinds": kinds,
        "det_names": np.array(det_names),
        "paths": np.array([j[1] for j in jobs]),
    }
    tmp = path + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return out
