"""The training loop's pieces: seeding, augmentation, mixup/cutmix, one training stage, prediction
and metrics. train.py strings them into the recipe."""
from __future__ import annotations

import math
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

import data as D

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def seed_all(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


# ----------------------------------------------------------------------------------------------- augmentation
def augment(x: torch.Tensor, size: int, g: torch.Generator, min_scale: float, strong: bool,
            hue_deg: float = 0.0, grey_p: float = 0.0) -> torch.Tensor:
    """x: uint8-derived float [N,3,H,W] in 0..1 on device. Random resized crop + flip + rotation via one
    batched affine grid_sample, then photometric jitter. By default no hue shift (colour identifies
    vegetables); hue_deg/grey_p add a hue rotation and occasional greyscale for a member meant to lean on
    shape and texture (other store visits show unwashed beets and pink-eyed potatoes). They draw from the
    generator only when set, so the default recipe's random stream is unchanged."""
    n = x.shape[0]
    dev = x.device

    def U(a, b, shape=(n,)):
        return torch.rand(shape, generator=g).to(dev) * (b - a) + a

    area = U(min_scale, 1.0)
    logr = U(math.log(3 / 4), math.log(4 / 3))
    ar = torch.exp(logr)
    w = torch.clamp(torch.sqrt(area * ar), max=1.0)
    h = torch.clamp(torch.sqrt(area / ar), max=1.0)
    cx = (U(0, 1) * 2 - 1) * (1 - w)
    cy = (U(0, 1) * 2 - 1) * (1 - h)
    flip = torch.where(U(0, 1) < 0.5, -1.0, 1.0)
    ang = U(-20, 20) * math.pi / 180 if strong else torch.zeros(n, device=dev)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.stack([
        torch.stack([w * cos * flip, -h * sin, cx], 1),
        torch.stack([w * sin * flip, h * cos, cy], 1)], 1)
    grid = F.affine_grid(theta, (n, 3, size, size), align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    # photometric
    b = U(0.7, 1.3).view(n, 1, 1, 1)
    c = U(0.7, 1.3).view(n, 1, 1, 1)
    s = U(0.7, 1.3).view(n, 1, 1, 1)
    gain = U(0.94, 1.06, (n, 3)).to(dev).view(n, 3, 1, 1)
    y = y * b * gain
    m = y.mean(dim=(1, 2, 3), keepdim=True)
    y = (y - m) * c + m
    gray = luma(y)
    y = (y - gray) * s + gray
    if hue_deg > 0:
        y = rotate_hue(y, U(-hue_deg, hue_deg) * math.pi / 180)
    if grey_p > 0:
        keep = (U(0, 1) >= grey_p).float().view(n, 1, 1, 1)
        gray = luma(y)
        y = y * keep + gray * (1 - keep)
    return y.clamp(0, 1)


def luma(y: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of RGB [N,3,H,W] as [N,1,H,W] (the Y row of YIQ below)."""
    return 0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3]


_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rotate_hue(y: torch.Tensor, ang: torch.Tensor) -> torch.Tensor:
    """Rotates each image's chroma (the I/Q plane of YIQ) by its angle: a hue shift that keeps luma."""
    n = y.shape[0]
    cos, sin = torch.cos(ang), torch.sin(ang)
    rot = torch.zeros(n, 3, 3, device=y.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    fwd = _RGB2YIQ.to(y.device)
    m = torch.linalg.inv(fwd) @ rot @ fwd  # [n,3,3]
    return torch.einsum("nij,njhw->nihw", m, y)


def bin_mosaic(x: torch.Tensor, bi: torch.Tensor, labels: torch.Tensor, pools, tileable: torch.Tensor,
               imgs: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    """Turns some single-item crops into a "bin": a 2x2 or 3x3 grid of crops of the same class.

    The Grocery photos the kiosk resembles show a crate full of one vegetable; the detection crops show
    one item each. A grid of same-class crops looks like the crate, so the crops teach the texture of
    many small potatoes rather than the outline of one. x: float [N,3,H,W] (0..1), bi: the batch's indices
    into imgs/labels, tileable: bool per index of imgs (the crops), pools: class -> tileable indices."""
    if p <= 0 or not pools:
        return x
    n, _, H, W = x.shape
    for j in range(n):
        cls = int(labels[bi[j]])
        pool = pools.get(cls)
        if pool is None or not bool(tileable[bi[j]]) or torch.rand(1, generator=g).item() >= p:
            continue
        k = 2 if torch.rand(1, generator=g).item() < 0.5 else 3
        pick = pool[torch.randint(0, len(pool), (k * k,), generator=g)]
        tiles = imgs[pick].to(x.device).permute(0, 3, 1, 2).float().div_(255)
        tiles = F.interpolate(tiles, size=(H // k, W // k), mode="bilinear", align_corners=False, antialias=True)
        grid = tiles.reshape(k, k, 3, H // k, W // k).permute(2, 0, 3, 1, 4).reshape(3, k * (H // k), k * (W // k))
        x[j] = F.interpolate(grid[None], size=(H, W), mode="bilinear", align_corners=False)[0]
    return x


def normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def mix(x, t, g, p_mix: float):
    """mixup or cutmix (50/50) applied to the whole batch with probability p_mix; t are soft targets."""
    if p_mix <= 0 or torch.rand(1, generator=g).item() >= p_mix:
        return x, t
    n = x.shape[0]
    perm = torch.randperm(n, generator=g).to(x.device)
    lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=g))).beta(1.0, 1.0))
    if torch.rand(1, generator=g).item() < 0.5:
        x = lam * x + (1 - lam) * x[perm]
    else:
        H, W = x.shape[2:]
        rh, rw = int(H * math.sqrt(1 - lam)), int(W * math.sqrt(1 - lam))
        cy, cx = int(torch.randint(0, H, (1,), generator=g)), int(torch.randint(0, W, (1,), generator=g))
        y1, y2 = max(cy - rh // 2, 0), min(cy + rh // 2, H)
        x1, x2 = max(cx - rw // 2, 0), min(cx + rw // 2, W)
        x = x.clone()
        x[:, :, y1:y2, x1:x2] = x[perm][:, :, y1:y2, x1:x2]
        lam = 1 - (y2 - y1) * (x2 - x1) / (H * W)
    return x, lam * t + (1 - lam) * t[perm]


# ----------------------------------------------------------------------------------------------- training loop
class EMA:
    """Exponential moving average of every float tensor in the state dict (weights and BN statistics).
    With a few thousand steps on a few thousand photos the last SGD iterate is noisy; the average is
    what gets evaluated and exported."""

    def __init__(self, net, decay: float):
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net):
        for k, v in net.state_dict().items():
            if v.dtype.is_floating_point:
                self.state[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:
                self.state[k].copy_(v)


def train_stage(net, imgs, labels, weights, num_classes, epochs, args, dev, g, lr, name,
                neg_imgs=None, eval_fn=None, ema=None, tileable=None, backbone_lr_mult=1.0):
    """imgs: uint8 tensor [N,H,W,3] (CPU); labels: int64 [N]; weights: per-sample sampling weight.
    ema: an EMA updated after every step, when given. tileable: bool [N], the samples bin_mosaic may
    replace by a grid of same-class samples (with probability args.mosaic). backbone_lr_mult: everything
    but the head trains at this fraction of lr."""
    pools = {}
    if tileable is not None and getattr(args, "mosaic", 0) > 0:
        tix = np.where(tileable)[0]
        for cls in np.unique(labels.numpy()[tix]):
            pools[int(cls)] = torch.from_numpy(tix[labels.numpy()[tix] == cls])
        tileable = torch.from_numpy(np.asarray(tileable, dtype=bool))
    if backbone_lr_mult != 1.0:
        head = {id(p) for p in net.head.parameters()}
        groups = [{"params": [p for p in net.parameters() if id(p) not in head], "mult": backbone_lr_mult},
                  {"params": list(net.head.parameters()), "mult": 1.0}]
    else:
        groups = net.parameters()
    opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True, weight_decay=args.wd)
    steps_per_epoch = max(1, len(labels) // args.bs)
    total = epochs * steps_per_epoch
    warm = min(steps_per_epoch * 2, total // 10)
    probs = torch.tensor(weights, dtype=torch.float64)
    probs = probs / probs.sum()
    step = 0
    for ep in range(epochs):
        net.train()
        t0 = time.time()
        idx = torch.multinomial(probs, steps_per_epoch * args.bs, replacement=True, generator=g)
        tl, tc, tn = 0.0, 0, 0
        for i in range(steps_per_epoch):
            bi = idx[i * args.bs:(i + 1) * args.bs]
            x = imgs[bi].to(dev).permute(0, 3, 1, 2).float().div_(255)
            if pools:
                x = bin_mosaic(x, bi, labels, pools, tileable, imgs, g, args.mosaic)
            y = labels[bi].to(dev)
            t = F.one_hot(y, num_classes).float()
            if neg_imgs is not None and args.neg_frac > 0:
                k = int(args.bs * args.neg_frac)
                ni = torch.randint(0, len(neg_imgs), (k,), generator=g)
                xn = neg_imgs[ni].to(dev).permute(0, 3, 1, 2).float().div_(255)
                x = torch.cat([x, xn])
                t = torch.cat([t, torch.full((k, num_classes), 1.0 / num_classes, device=dev)])
            x = augment(x, args.size, g, args.min_scale, True,
                        getattr(args, "hue", 0.0), getattr(args, "grey", 0.0))
            x = normalize(x)
            x, t = mix(x, t, g, args.mix)
            t = t * (1 - args.smooth) + args.smooth / num_classes
            cur = lr * (step + 1) / warm if step < warm else \
                0.5 * lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
            for pg in opt.param_groups:
                pg["lr"] = cur * pg.get("mult", 1.0)
            out = net(x)
            loss = torch.sum(-t * F.log_softmax(out, 1), 1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(net)
            step += 1
            tl += loss.item() * len(y)
            tc += (out[:len(y)].argmax(1) == y).sum().item()
            tn += len(y)
        msg = f"[{name}] ep {ep + 1}/{epochs} loss {tl / tn:.3f} train-acc(aug) {tc / tn:.3f} lr {cur:.4f} {time.time() - t0:.0f}s"
        if eval_fn is not None and ((ep + 1) % args.eval_every == 0 or ep + 1 == epochs):
            msg += f" | {eval_fn()}"
        log(msg)


@torch.no_grad()
def predict(net, eval_imgs, dev, bs=256, flip=False):
    """Logits for uint8 [N,H,W,3] images; flip=True averages them with the mirrored image's logits
    (what the exported graph does with --tta flip)."""
    net.eval()
    outs = []
    for i in range(0, len(eval_imgs), bs):
        x = normalize(eval_imgs[i:i + bs].to(dev).permute(0, 3, 1, 2).float().div_(255))
        out = net(x).float()
        if flip:
            out = (out + net(torch.flip(x, dims=[3])).float()) / 2
        outs.append(out.cpu())
    return torch.cat(outs)


def metrics(pred, y, k):
    cm = np.zeros((k, k), dtype=np.int64)
    for a, b in zip(y.tolist(), pred.tolist()):
        cm[a, b] += 1
    per = {}
    for c in range(k):
        n = cm[c].sum()
        per[D.VEG_LABELS[c]] = {"n": int(n), "correct": int(cm[c, c]),
                                "acc": (float(cm[c, c] / n) if n else None)}
    return {"acc": float(np.trace(cm) / cm.sum()), "n": int(cm.sum()), "per_class": per,
            "confusion": cm.tolist()}


# ----------------------------------------------------------------------------------------------- main
