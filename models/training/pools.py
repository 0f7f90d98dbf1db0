"""Which photos each stage trains on, with which labels and sampling weights, and the cross-validation folds.

numpy only: these rules decide whether an evaluation photo can leak into training, so they are tested
without torch or the photos (models/training/test_pools.py, run by the project's test suite).

Arrays index the decoded-image cache (data.build_cache): per image its source (0 Grocery, 1 detection
crop), split (0 train, 1 val), fine or detection class id, and path.
"""
from __future__ import annotations

import numpy as np


def pretrain_pool(src, split, fid, g_veg, n_det: int, include_veg: bool):
    """Stage 1's images and labels: the Grocery fine classes of the train split (the vegetables' too when
    include_veg) and every detection class. Grocery val photos are never in it. Returns (indices, labels,
    number of classes)."""
    is_g = src == 0
    if include_veg:
        idx = np.where((is_g & (split == 0)) | (src == 1))[0]
        g_fine = sorted({int(f) for f in fid[is_g]})
    else:
        idx = np.where((is_g & ~g_veg & (split == 0)) | (src == 1))[0]
        g_fine = sorted({int(f) for f in fid[is_g & ~g_veg]})
    label_of = {("g", f): i for i, f in enumerate(g_fine)}
    for j in range(n_det):
        label_of[("d", j)] = len(g_fine) + j
    labels = np.array([label_of[("g" if src[i] == 0 else "d", int(fid[i]))] for i in idx])
    return idx, labels, len(label_of)


def without(idx, labels, photos):
    """idx and labels less the images in photos (a cross-validation fold's, which stage 1 must not see)."""
    keep = ~np.isin(idx, np.asarray(photos, dtype=np.int64))
    return idx[keep], labels[keep]


def finetune_pool(g_idx, g_labels, d_idx, d_labels, use_det: bool):
    """Stage 2's images and labels: Grocery vegetable photos, then (use_det) the detection crops of the
    matching classes. Returns (indices, labels, sources: positions of each source's images, source_mass:
    per image, its source's share of the draws spread evenly over the source's images)."""
    g_idx = np.asarray(g_idx, dtype=np.int64)
    if not use_det:
        return g_idx, g_labels, [np.arange(len(g_idx))], np.ones(len(g_idx))
    idx, labels = np.concatenate([g_idx, d_idx]), np.concatenate([g_labels, d_labels])
    # half of the sampling mass on Grocery photos (the kiosk-like domain), half on detection crops
    mass = np.concatenate([np.full(len(g_idx), 0.5 / len(g_idx)), np.full(len(d_idx), 0.5 / len(d_idx))])
    return idx, labels, [np.arange(len(g_idx)), np.arange(len(g_idx), len(idx))], mass


def sampling_weights(labels, sources, source_mass, balance: str, n_classes: int = 15):
    """Per-image draw weights for stage 2. balance: 'none' (source_mass as it is), 'source' (classes
    balanced within each source, each source keeping its mass) or 'global' (every class the same share)."""
    if balance == "none":
        return source_mass
    if balance == "global":
        # every class the same share of the draws, split evenly between the sources that have it: the
        # classes the detection set lacks (Ginger, Red-Beet, Leek, ...) are otherwise drawn from only
        # the Grocery half and so about 2.7x less often than a class both sources have
        present = [k for k in range(n_classes) if (labels == k).any()]
        w = np.zeros(len(labels))
        for k in present:
            parts = [s_sel[labels[s_sel] == k] for s_sel in sources if (labels[s_sel] == k).any()]
            for sel in parts:
                w[sel] = 1.0 / (len(present) * len(parts) * len(sel))
        return w
    if balance != "source":
        raise ValueError(f"unknown balance {balance!r}")
    # class-balanced within each source: rare classes (Ginger, Red-Beet, Asparagus) are drawn as
    # often as common ones (capped at 4x the median per-image rate, against overfitting to a few
    # photos; with the shared data the cap binds for no class)
    w = np.zeros(len(labels))
    for s_sel in sources:
        cnt = np.bincount(labels[s_sel], minlength=n_classes).astype(np.float64)
        per = np.where(cnt > 0, 1.0 / np.maximum(cnt, 1), 0)
        per = np.minimum(per, 4.0 * np.median(per[cnt > 0]))
        ww = per[labels[s_sel]]
        w[s_sel] = ww / ww.sum() * source_mass[s_sel].sum()
    return w


def cv_folds(photos, fid, paths, k: int, seed: int, grouped: bool):
    """K folds over photos (cache indices), stratified by fine class, deterministic in seed. grouped:
    each class's photos in contiguous file-order blocks, one block per fold. Returns k lists of indices."""
    rng = np.random.default_rng(seed)
    folds = [[] for _ in range(k)]
    for f in sorted(set(int(fid[i]) for i in photos)):
        in_class = photos[fid[photos] == f]
        off = int(rng.integers(k))
        if grouped:
            # contiguous blocks in file order: consecutive Grocery photos of a class are near-duplicates
            # (same shelf, same session), so random folds put near-copies of test photos into training
            in_class = np.array(sorted(in_class, key=lambda i: str(paths[i])))
            for j, chunk in enumerate(np.array_split(in_class, k)):
                folds[(j + off) % k].extend(int(i) for i in chunk)
            continue
        in_class = in_class[rng.permutation(len(in_class))]
        for j, i in enumerate(in_class):
            folds[(j + off) % k].append(int(i))
    return folds
