"""Fine-tuning the last MobileNetV2 stages and the cosine head on cached views, and prediction.

`cut` is where the view cache was taken; stages from `cut` to `train_from` run frozen on the cached
features, stages from `train_from` on and the head learn."""
from __future__ import annotations

import math
import random
import time

import numpy as np
import torch
import torch.nn.functional as F


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def seed_all(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(model, feats: np.ndarray, owners: np.ndarray, sample_labels: np.ndarray, sample_weights: np.ndarray,
          cut: int, train_from: int, epochs: int, steps_per_epoch: int, batch: int, lr_head: float,
          lr_tail: float, weight_decay: float, label_smoothing: float, seed: int, on_epoch=None):
    """Each step draws `batch` views: a sample by its weight, then one of its cached views at random."""
    g = np.random.default_rng(seed)
    torch.manual_seed(seed)
    views_of = [np.where(owners == i)[0] for i in range(len(sample_labels))]
    drawable = np.array([len(v) > 0 for v in views_of])
    p = np.where(drawable, sample_weights, 0.0)
    p = p / p.sum()
    stages = model.features.stages
    for i, stage in enumerate(stages):
        stage.requires_grad_(i >= train_from)
    tail_params = [q for i, s in enumerate(stages) if i >= train_from for q in s.parameters()]
    groups = [{"params": list(model.head.parameters()), "lr": lr_head}]
    if tail_params:
        groups.append({"params": tail_params, "lr": lr_tail})
    opt = torch.optim.AdamW(groups, weight_decay=weight_decay)
    base = [gr["lr"] for gr in groups]
    total = epochs * steps_per_epoch
    step = 0
    for epoch in range(epochs):
        model.train()
        t0, loss_sum, correct = time.time(), 0.0, 0
        for _ in range(steps_per_epoch):
            s_idx = g.choice(len(p), size=batch, p=p)
            v_idx = np.array([views_of[s][g.integers(len(views_of[s]))] for s in s_idx])
            x = torch.from_numpy(feats[v_idx]).float()
            y = torch.from_numpy(sample_labels[s_idx]).long()
            with torch.no_grad():
                x = model.features(x, cut, train_from)
            logits, _ = model(x, train_from)
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
            warm = min(1.0, (step + 1) / max(1, steps_per_epoch // 2))
            for gr, b in zip(opt.param_groups, base):
                gr["lr"] = b * warm * 0.5 * (1 + math.cos(math.pi * step / total))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item()
            correct += (logits.argmax(1) == y).sum().item()
        log(f"epoch {epoch + 1}/{epochs} loss {loss_sum / steps_per_epoch:.3f} "
            f"train acc {correct / (steps_per_epoch * batch):.3f} {time.time() - t0:.0f}s")
        if on_epoch:
            on_epoch(epoch)
    model.eval()
    return model


@torch.no_grad()
def predict(model, feats: np.ndarray, cut: int, batch: int = 128):
    """Raw logits (the head's own scale) and embeddings of cached runtime views."""
    model.eval()
    logits, embs = [], []
    for i in range(0, len(feats), batch):
        lo, e = model(torch.from_numpy(feats[i:i + batch]).float(), cut)
        logits.append(lo)
        embs.append(e)
    return torch.cat(logits).numpy(), torch.cat(embs).numpy()
