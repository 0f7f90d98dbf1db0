"""The detection data: YOLO-format splits of Fruits and Vegetables v3, and the training augmentation.

Numpy and PIL only (no torch), so the data rules are testable anywhere numpy is.
Boxes inside this module are [x1, y1, x2, y2] in pixels of the picture they belong to, with a class
index beside them; labels on disk are `class cx cy w h`, normalised.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PAD_VALUE = 114  # YOLOX's letterbox grey; the runtime pads with the same (device/inference/preprocess.ts)


def read_class_names(data_yaml: str) -> list[str]:
    """The `names:` list of a YOLO data.yaml, in index order (block or inline list; no YAML library needed)."""
    with open(data_yaml) as f:
        text = f.read()
    inline = re.search(r"^names:\s*\[(.*?)\]", text, re.M | re.S)
    if inline:
        names = [n.strip().strip("'\"") for n in inline.group(1).split(",") if n.strip()]
    else:
        block = re.search(r"^names:\s*\n((?:[ \t]*-[^\n]*\n?)+)", text, re.M)
        if not block:
            raise ValueError(f"{data_yaml}: no names list")
        names = [line.strip()[1:].strip().strip("'\"") for line in block.group(1).splitlines() if line.strip()]
    count = re.search(r"^nc:\s*(\d+)", text, re.M)
    if count and int(count.group(1)) != len(names):
        raise ValueError(f"{data_yaml}: nc is {count.group(1)} but names lists {len(names)}")
    return names


def parse_label_text(text: str, num_classes: int, width: int, height: int, where: str = "label") -> tuple[np.ndarray, np.ndarray]:
    """`class cx cy w h` rows (normalised) → (classes int64 [n], boxes float32 [n, 4] x1y1x2y2 pixels).

    Boxes are clipped to the picture; rows with an unknown class or a malformed count fail loudly, since
    a silent skip would teach the model that the object is background.
    """
    classes, boxes = [], []
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise ValueError(f"{where}:{n}: expected 'class cx cy w h', got {line!r}")
        c = int(parts[0])
        if not 0 <= c < num_classes:
            raise ValueError(f"{where}:{n}: class {c} is not one of the {num_classes} in data.yaml")
        cx, cy, w, h = (float(v) for v in parts[1:])
        x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height
        x2, y2 = (cx + w / 2) * width, (cy + h / 2) * height
        classes.append(c)
        boxes.append([max(0.0, x1), max(0.0, y1), min(width, x2), min(height, y2)])
    return np.asarray(classes, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4)


@dataclass(frozen=True)
class Sample:
    image: str
    label: str


def list_split(root: str, split: str) -> list[Sample]:
    """Every image of `root/<split>/images` with its label file (same stem under labels/), in name order.

    An image without a label file holds no object (YOLO's convention) and stays in the split.
    """
    image_dir = os.path.join(root, split, "images")
    label_dir = os.path.join(root, split, "labels")
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"{image_dir}: no such split (expected YOLO layout <split>/images, <split>/labels)")
    samples = []
    for name in sorted(os.listdir(image_dir)):
        if name.lower().endswith(IMAGE_SUFFIXES):
            stem = os.path.splitext(name)[0]
            samples.append(Sample(os.path.join(image_dir, name), os.path.join(label_dir, stem + ".txt")))
    return samples


def read_labels(sample: Sample, num_classes: int, width: int, height: int):
    if not os.path.exists(sample.label):
        return np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    with open(sample.label) as f:
        return parse_label_text(f.read(), num_classes, width, height, sample.label)


# ---- augmentation ---------------------------------------------------------------------------------

def letterbox(img: np.ndarray, side: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Fits an HxWx3 uint8 picture into side x side, centred on grey 114 as the runtime does.

    Returns the picture, the scale and the (x, y) offset, so boxes map by box * scale + offset.
    """
    from PIL import Image

    h, w = img.shape[:2]
    scale = min(side / w, side / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    out = np.full((side, side, 3), PAD_VALUE, np.uint8)
    ox, oy = (side - nw) // 2, (side - nh) // 2
    out[oy:oy + nh, ox:ox + nw] = np.asarray(Image.fromarray(img).resize((nw, nh), Image.BILINEAR))
    return out, scale, (ox, oy)


def crop_resize(canvas: np.ndarray, x0: float, y0: float, size: float, side: int) -> np.ndarray:
    """The size x size window at (x0, y0) of canvas (grey outside it), resized to side x side."""
    from PIL import Image

    img = Image.fromarray(canvas)
    return np.asarray(img.transform((side, side), Image.EXTENT, (x0, y0, x0 + size, y0 + size),
                                    Image.BILINEAR, fillcolor=(PAD_VALUE,) * 3))


def keep_visible(boxes: np.ndarray, classes: np.ndarray, side: int, min_kept_area: float = 0.25, min_side: float = 2.0):
    """Clips boxes to the picture; drops those mostly cut off (under min_kept_area of their area) or tiny."""
    if len(boxes) == 0:
        return boxes, classes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    clipped = np.clip(boxes, 0, side)
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    keep = (w >= min_side) & (h >= min_side) & (w * h >= min_kept_area * np.maximum(area, 1e-6))
    return clipped[keep].astype(np.float32), classes[keep]


def mosaic(pictures, side: int, rng: np.random.Generator, zoom=(0.5, 1.5)):
    """Four (img side x side, boxes, classes) around a random centre of a 2*side canvas, then a random zoom
    window of it resized to side: objects of every size, cut at borders, on other objects' backgrounds."""
    canvas = np.full((2 * side, 2 * side, 3), PAD_VALUE, np.uint8)
    xc, yc = (int(rng.uniform(0.5 * side, 1.5 * side)) for _ in range(2))
    all_boxes, all_classes = [], []
    for i, (img, boxes, classes) in enumerate(pictures):
        h, w = img.shape[:2]
        # Quadrant i: the picture's corner touching the centre is bottom-right, bottom-left, top-right, top-left.
        x0 = xc - w if i in (0, 2) else xc
        y0 = yc - h if i in (0, 1) else yc
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + w, 2 * side), min(y0 + h, 2 * side)
        canvas[cy0:cy1, cx0:cx1] = img[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        if len(boxes):
            all_boxes.append(boxes + np.array([x0, y0, x0, y0], np.float32))
            all_classes.append(classes)
    boxes = np.concatenate(all_boxes) if all_boxes else np.zeros((0, 4), np.float32)
    classes = np.concatenate(all_classes) if all_classes else np.zeros(0, np.int64)
    z = rng.uniform(*zoom)
    window = min(2 * side, side / z)
    wx = np.clip(xc - window / 2 + rng.uniform(-0.25, 0.25) * side, 0, 2 * side - window)
    wy = np.clip(yc - window / 2 + rng.uniform(-0.25, 0.25) * side, 0, 2 * side - window)
    out = crop_resize(canvas, wx, wy, window, side)
    s = side / window
    boxes = (boxes - np.array([wx, wy, wx, wy], np.float32)) * s
    boxes, classes = keep_visible(boxes, classes, side)
    return out, boxes, classes


def random_zoom(img: np.ndarray, boxes: np.ndarray, classes: np.ndarray, side: int, rng: np.random.Generator, zoom=(0.6, 1.3)):
    """One picture at a random scale and position (zoom < 1 shrinks it onto grey)."""
    z = rng.uniform(*zoom)
    window = side / z
    wx = rng.uniform(min(0, side - window), max(0, side - window))
    wy = rng.uniform(min(0, side - window), max(0, side - window))
    out = crop_resize(img, wx, wy, window, side)
    boxes = (boxes - np.array([wx, wy, wx, wy], np.float32)) * (side / window)
    boxes, classes = keep_visible(boxes, classes, side)
    return out, boxes, classes


def hflip(img: np.ndarray, boxes: np.ndarray):
    w = img.shape[1]
    flipped = boxes.copy()
    flipped[:, 0], flipped[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    return img[:, ::-1].copy(), flipped


def colour_jitter(img: np.ndarray, rng: np.random.Generator, brightness=0.25, contrast=0.25, saturation=0.4, hue=0.03):
    """Brightness, contrast, saturation and a small hue rotation: shop lighting and camera white balance."""
    x = img.astype(np.float32)
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = grey[..., None] + (x - grey[..., None]) * rng.uniform(1 - saturation, 1 + saturation)
    x = (x - x.mean()) * rng.uniform(1 - contrast, 1 + contrast) + x.mean()
    x = x * rng.uniform(1 - brightness, 1 + brightness)
    if hue:
        # A rotation of the colour plane around the grey axis (YIQ hue shift), angle in turns.
        a = rng.uniform(-hue, hue) * 2 * np.pi
        c, s = np.cos(a), np.sin(a)
        to_yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
        rot = np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float32)
        x = x @ (np.linalg.inv(to_yiq) @ rot @ to_yiq).T.astype(np.float32)
    return np.clip(x, 0, 255).astype(np.uint8)


@dataclass
class AugmentSettings:
    mosaic_prob: float = 0.5
    flip_prob: float = 0.5
    mosaic_zoom: tuple = (0.5, 1.5)
    single_zoom: tuple = (0.6, 1.3)
    colour: bool = True


def augmented_sample(index: int, load, count: int, side: int, rng: np.random.Generator, aug: AugmentSettings):
    """A training picture (side x side RGB uint8), its boxes and classes.

    `load(i)` returns sample i as (img side x side, boxes, classes); mosaic draws three more at random.
    """
    if rng.random() < aug.mosaic_prob:
        picks = [index] + list(rng.integers(0, count, 3))
        img, boxes, classes = mosaic([load(int(i)) for i in picks], side, rng, aug.mosaic_zoom)
    else:
        img, boxes, classes = load(index)
        img, boxes, classes = random_zoom(img, boxes, classes, side, rng, aug.single_zoom)
    if rng.random() < aug.flip_prob:
        img, boxes = hflip(img, boxes)
    if aug.colour:
        img = colour_jitter(img, rng)
    return img, boxes, classes
