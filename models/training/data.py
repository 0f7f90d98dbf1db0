"""Reading the shared data sets' index files: the Grocery Store splits and classes, the detection set's
class names and boxes.

Photos are read from the shared data folder (never from, nor copied into, the repository); nothing
derived from a photo is ever written under models/.
"""
from __future__ import annotations

import csv
import os


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


def det_boxes(data_dir: str, split: str = "train"):
    """(image_path, class_id, (cx, cy, w, h) normalised) for every labelled box of a split."""
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
