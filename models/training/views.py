"""Augmented views of every sample, pushed once through the frozen start of MobileNetV2 and cached.

On a 2-core CPU, fine-tuning the whole network costs about 40 ms per image per step. The first stages
(stem to block 13) are general ImageNet features that a few thousand photos would not improve, so they
stay frozen, and each sample's augmented views are computed through them once: training then runs only
the last blocks and the head, about a tenth of the work. The price is a fixed set of augmentations
(`views` per sample) instead of fresh ones every epoch.

The cache lives outside the repository (--cache-dir, default /tmp/vegkiosk-cache): nothing derived from
a photo is written under models/.
"""
from __future__ import annotations

import hashlib
import math
import os
import random
import time

import numpy as np
import torch
from PIL import Image, ImageEnhance

from samples import Sample


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def load_rgb(sample: Sample, context: float = 0.15) -> Image.Image:
    """The sample's photo, or its box crop with `context` extra margin on each side."""
    im = Image.open(sample.path)
    im.load()
    im = im.convert("RGB")
    if sample.box is None:
        return im
    W, H = im.size
    cx, cy, w, h = sample.box
    w2, h2 = w * (1 + context) / 2, h * (1 + context) / 2
    return im.crop((int(round(max(0.0, cx - w2) * W)), int(round(max(0.0, cy - h2) * H)),
                    int(round(min(1.0, cx + w2) * W)), int(round(min(1.0, cy + h2) * H))))


def runtime_view(path: str, size: int) -> np.ndarray:
    """What vegkiosk's "center-crop" preprocessing gives for a photo, as closely as PIL gets: libjpeg
    shrink-on-load (Image.draft, as sharp's fastShrinkOnLoad), the shorter side resized to `size` with a
    linear kernel, the centre window kept. HWC uint8 RGB."""
    im = Image.open(path)
    im.draft("RGB", (size, size))
    im = im.convert("RGB")
    W, H = im.size
    s = max(size / W, size / H)
    rw, rh = max(size, round(W * s)), max(size, round(H * s))
    im = im.resize((rw, rh), Image.BILINEAR)
    left, top = (rw - size) // 2, (rh - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)


def augmented_view(im: Image.Image, size: int, rng: random.Random, min_area: float) -> np.ndarray:
    """Random resized crop (area min_area..1 of the picture, aspect 3/4..4/3), horizontal flip, a small
    rotation, brightness/contrast/saturation x0.7..1.3. No hue change: colour tells a red beet from a
    potato. HWC uint8 RGB."""
    W, H = im.size
    for _ in range(10):
        area = W * H * rng.uniform(min_area, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < w <= W and 0 < h <= H:
            x, y = rng.randint(0, W - w), rng.randint(0, H - h)
            break
    else:
        w = h = min(W, H)
        x, y = (W - w) // 2, (H - h) // 2
    crop = im.crop((x, y, x + w, y + h))
    angle = rng.uniform(-15, 15)
    if abs(angle) > 1:
        crop = crop.rotate(angle, resample=Image.BILINEAR, expand=False, fillcolor=None)
    crop = crop.resize((size, size), Image.BILINEAR)
    if rng.random() < 0.5:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    for enhance in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        crop = enhance(crop).enhance(rng.uniform(0.7, 1.3))
    return np.asarray(crop, dtype=np.uint8)


def to_input(batch_hwc: np.ndarray) -> torch.Tensor:
    """uint8 NHWC RGB -> float NCHW in [-1, 1], MobileNetV2's input."""
    return torch.from_numpy(batch_hwc).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


@torch.no_grad()
def trunk_features(trunk, images: np.ndarray, cut: int, batch: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(images), batch):
        out.append(trunk(to_input(images[i:i + batch]), 0, cut).half().numpy())
    return np.concatenate(out)


@torch.no_grad()
def advance(trunk, feats: np.ndarray, start: int, stop: int, batch: int = 128) -> np.ndarray:
    """Cached features at stage `start` pushed through the frozen stages start..stop-1, so training
    does not recompute them every step. Past the last stage the map is average-pooled (kept 1x1), the
    same result the classifier's own pooling gives, in 1/49 of the memory."""
    out = []
    last = len(trunk.stages)
    for i in range(0, len(feats), batch):
        x = trunk(torch.from_numpy(feats[i:i + batch]).float(), start, stop)
        if stop >= last:
            x = x.mean((2, 3), keepdim=True)
        out.append(x.half().numpy())
    return np.concatenate(out)


def cache_key(samples: list[Sample], **settings) -> str:
    h = hashlib.sha1()
    for s in samples:
        h.update(f"{s.path}|{s.box}|{s.label}\n".encode())
    h.update(repr(sorted(settings.items())).encode())
    return h.hexdigest()[:12]


def build_view_cache(trunk, samples: list[Sample], views_of, size: int, cut: int, min_area: float,
                     seed: int, cache_dir: str, chunk: int = 512):
    """Features at stage `cut` of views_of(sample) augmented views per sample. Returns (features
    float16 [V, C, h, w], sample index per view). Written in chunks, so a stopped run resumes."""
    key = cache_key(samples, size=size, cut=cut, min_area=min_area, seed=seed,
                    views=[views_of(s) for s in samples[:50]])
    folder = os.path.join(cache_dir, f"views-{key}")
    os.makedirs(folder, exist_ok=True)
    plan = [(i, v) for i, s in enumerate(samples) for v in range(views_of(s))]
    feats, owners = [], []
    for start in range(0, len(plan), chunk):
        part = plan[start:start + chunk]
        path = os.path.join(folder, f"{start:07d}.npy")
        if not os.path.exists(path):
            images = []
            for i, v in part:
                rng = random.Random(f"{seed}|{i}|{v}")
                images.append(augmented_view(load_rgb(samples[i]), size, rng, min_area))
            f = trunk_features(trunk, np.stack(images), cut)
            np.save(path + ".tmp.npy", f)
            os.replace(path + ".tmp.npy", path)
            log(f"views {start + len(part)}/{len(plan)}")
        feats.append(np.load(path))
        owners.extend(i for i, _ in part)
    return np.concatenate(feats), np.array(owners, dtype=np.int64)


def build_eval_cache(trunk, paths: list[str], size: int, cut: int, cache_dir: str):
    """Features at stage `cut` of each photo's runtime view (no augmentation)."""
    key = hashlib.sha1(("|".join(paths) + f"|{size}|{cut}").encode()).hexdigest()[:12]
    path = os.path.join(cache_dir, f"eval-{key}.npy")
    if os.path.exists(path):
        return np.load(path)
    os.makedirs(cache_dir, exist_ok=True)
    f = trunk_features(trunk, np.stack([runtime_view(p, size) for p in paths]), cut)
    np.save(path + ".tmp.npy", f)
    os.replace(path + ".tmp.npy", path)
    return f
