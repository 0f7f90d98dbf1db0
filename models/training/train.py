#!/usr/bin/python3
"""vegkiosk vegetable classifier: train from scratch, evaluate, export ONNX + manifest.

Stages (see models/README.md):
  1. pretrain on every non-vegetable Grocery class (fine labels, train split) plus all 22 classes of the
     detection set's train split as box crops -- no Grocery vegetable photo is seen here, so the same
     backbone serves the val evaluation and the cross-validation without leakage;
  2. fine-tune on the 15 coarse vegetable classes: Grocery train photos + matching detection crops,
     class-balanced sampling, mixup/cutmix, label smoothing, cosine schedule;
  3. evaluate on Grocery val (exactly the runtime's preprocessing: stretch-resize to SIZE x SIZE, RGB,
     /255, (x-mean)/std), export ONNX (opset 13, dynamic batch, outputs logits + embedding), write manifest.

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision, python3-onnx):
  apt-get install -y python3-torch python3-torchvision python3-onnx
  /usr/bin/python3 models/training/train.py [--data DIR]          # the shipped model (stages 1a + 2)
  /usr/bin/python3 models/training/train.py --pretrained P --ft-epochs 10 --cv 5 --no-export   # CV
Stage 1b (--pre-include-veg with --pretrained/--pre-continue) is optional and not in the shipped model.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
from net import VegNet, ExportWrapper, count_macs  # noqa: E402

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def seed_all(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


# ----------------------------------------------------------------------------------------------- augmentation
def augment(x: torch.Tensor, size: int, g: torch.Generator, min_scale: float, strong: bool) -> torch.Tensor:
    """x: uint8-derived float [N,3,H,W] in 0..1 on device. Random resized crop + flip + rotation via one
    batched affine grid_sample, then photometric jitter (no hue shift: colour identifies vegetables)."""
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
    gray = (0.299 * y[:, 0:1] + 0.587 * y[:, 1:2] + 0.114 * y[:, 2:3])
    y = (y - gray) * s + gray
    return y.clamp(0, 1)


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
def train_stage(net, imgs, labels, weights, num_classes, epochs, args, dev, g, lr, name,
                neg_imgs=None, eval_fn=None):
    """imgs: uint8 tensor [N,H,W,3] (CPU); labels: int64 [N]; weights: per-sample sampling weight."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=args.wd)
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
            y = labels[bi].to(dev)
            t = F.one_hot(y, num_classes).float()
            if neg_imgs is not None and args.neg_frac > 0:
                k = int(args.bs * args.neg_frac)
                ni = torch.randint(0, len(neg_imgs), (k,), generator=g)
                xn = neg_imgs[ni].to(dev).permute(0, 3, 1, 2).float().div_(255)
                x = torch.cat([x, xn])
                t = torch.cat([t, torch.full((k, num_classes), 1.0 / num_classes, device=dev)])
            x = augment(x, args.size, g, args.min_scale, True)
            x = normalize(x)
            x, t = mix(x, t, g, args.mix)
            t = t * (1 - args.smooth) + args.smooth / num_classes
            cur = lr * (step + 1) / warm if step < warm else \
                0.5 * lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
            for pg in opt.param_groups:
                pg["lr"] = cur
            out = net(x)
            loss = torch.sum(-t * F.log_softmax(out, 1), 1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            tl += loss.item() * len(y)
            tc += (out[:len(y)].argmax(1) == y).sum().item()
            tn += len(y)
        msg = f"[{name}] ep {ep + 1}/{epochs} loss {tl / tn:.3f} train-acc(aug) {tc / tn:.3f} lr {cur:.4f} {time.time() - t0:.0f}s"
        if eval_fn is not None and ((ep + 1) % args.eval_every == 0 or ep + 1 == epochs):
            msg += f" | {eval_fn()}"
        log(msg)


@torch.no_grad()
def predict(net, eval_imgs, dev, bs=256):
    net.eval()
    outs = []
    for i in range(0, len(eval_imgs), bs):
        x = eval_imgs[i:i + bs].to(dev).permute(0, 3, 1, 2).float().div_(255)
        outs.append(net(normalize(x)).float().cpu())
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
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=D.default_data_dir(), help="shared data folder (default: ../shared/data beside the repo)")
    ap.add_argument("--cache-dir", default="/tmp/vegkiosk-cache", help="decoded-image cache, outside the repo")
    ap.add_argument("--out-dir", default=os.path.join(REPO, "models"))
    ap.add_argument("--name", default="vegetables-v1")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--cache-size", type=int, default=128)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--pre-epochs", type=int, default=20)
    ap.add_argument("--pre-lr", type=float, default=0.1)
    ap.add_argument("--ft-epochs", type=int, default=30)
    ap.add_argument("--ft-lr", type=float, default=0.04)
    ap.add_argument("--mix", type=float, default=0.5, help="probability of mixup/cutmix per batch")
    ap.add_argument("--smooth", type=float, default=0.1)
    ap.add_argument("--min-scale", type=float, default=0.30)
    ap.add_argument("--neg-frac", type=float, default=0.0, help="fraction of non-vegetable photos per fine-tune batch with a uniform target")
    ap.add_argument("--no-det", action="store_true", help="fine-tune on Grocery vegetables only")
    ap.add_argument("--no-balance", action="store_true")
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--pretrained", default="", help="reuse a saved pretrain checkpoint (skips stage 1)")
    ap.add_argument("--pre-continue", type=int, default=0, help="with --pretrained: train stage 1 for this many more epochs (fresh warmup+cosine)")
    ap.add_argument("--pre-include-veg", action="store_true", help="stage 1 also sees the Grocery vegetable train photos (fine labels)")
    ap.add_argument("--save-pretrained", default="/tmp/vegkiosk-cache/pretrained.pt")
    ap.add_argument("--cv", type=int, default=0, help="run K-fold CV over Grocery train+val vegetables (fine-tune stage only) instead of the final model")
    ap.add_argument("--cv-grouped", action="store_true", help="CV folds as contiguous file-order blocks per class (keeps near-duplicate shots together)")
    ap.add_argument("--cv-folds", default="", help="comma list of fold indices to run (default all)")
    ap.add_argument("--results", default="", help="write metrics JSON here")
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args()

    t_start = time.time()
    seed_all(args.seed)
    torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True)
    else:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    log("device", dev, "threads", torch.get_num_threads(), "data", args.data)

    c = D.build_cache(args.data, args.cache_dir, args.cache_size, args.size)
    imgs = torch.from_numpy(c["train_imgs"])
    meta = c["meta"]
    src, split, fid, cid = meta[:, 0], meta[:, 1], meta[:, 2], meta[:, 3]
    coarse_names = list(c["coarse_names"])
    fine_coarse = c["fine_coarse"]
    det_names = list(c["det_names"])
    veg_coarse = {coarse_names.index(v): i for i, v in enumerate(D.VEG_LABELS)}
    is_g = src == 0
    g_veg = is_g & np.isin(cid, list(veg_coarse))
    eval_pos = {int(j): i for i, j in enumerate(c["eval_index"])}
    eval_imgs_all = torch.from_numpy(c["eval_imgs"])

    # ---- stage 1: pretraining label space = Grocery non-vegetable fine classes (train) + 22 detection classes
    if args.pre_include_veg:
        # every Grocery class (81 fine, train split) + 22 detection classes; the Grocery vegetable train
        # photos are then seen in both stages (val photos never), so CV folds would leak: see --cv
        pre_idx = np.where((is_g & (split == 0)) | (src == 1))[0]
        g_fine = sorted({int(f) for f in fid[is_g]})
    else:
        pre_idx = np.where((is_g & ~g_veg & (split == 0)) | (src == 1))[0]
        g_fine = sorted({int(f) for f in fid[is_g & ~g_veg]})
    pre_map = {("g", f): i for i, f in enumerate(g_fine)}
    for j in range(len(det_names)):
        pre_map[("d", j)] = len(g_fine) + j
    pre_labels = np.array([pre_map[("g" if src[i] == 0 else "d", int(fid[i]))] for i in pre_idx])
    n_pre = len(pre_map)

    # ---- fine-tune pool: detection crops mapped onto the vegetable classes
    det_veg = {j: D.VEG_LABELS.index(D.DET_TO_VEG[n]) for j, n in enumerate(det_names) if n in D.DET_TO_VEG}
    d_idx = np.array([i for i in np.where(src == 1)[0] if int(fid[i]) in det_veg], dtype=np.int64)
    d_lab = np.array([det_veg[int(fid[i])] for i in d_idx], dtype=np.int64)
    neg_idx = np.where(is_g & ~g_veg & (split == 0))[0]

    def veg_label(i):
        return veg_coarse[int(cid[i])]

    gv_train = np.where(g_veg & (split == 0))[0]
    gv_val = np.where(g_veg & (split == 1))[0]

    def make_net(k):
        return VegNet(k).to(dev)

    # stage 1
    net = make_net(n_pre)
    log(f"net params {sum(p.numel() for p in net.parameters()) / 1e6:.3f}M, MACs@{args.size} {count_macs(VegNet(15), args.size) / 1e6:.1f}M")
    loaded = False
    if args.pretrained and os.path.exists(args.pretrained):
        sd = torch.load(args.pretrained, map_location="cpu")
        own = net.state_dict()
        keep = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
        net.load_state_dict(keep, strict=False)
        loaded = True
        log("loaded pretrained", args.pretrained, f"({len(keep)}/{len(own)} tensors; head reset if label space differs)")
        if args.pre_continue > 0:
            args.pre_epochs = args.pre_continue
            loaded = False
    if not loaded and args.pre_epochs > 0:
        counts = np.bincount(pre_labels, minlength=n_pre)
        w = (1.0 / np.sqrt(counts[pre_labels])) if not args.no_balance else np.ones(len(pre_labels))
        log(f"stage 1: pretrain on {len(pre_idx)} images, {n_pre} classes, {args.pre_epochs} epochs")
        g = torch.Generator().manual_seed(args.seed + 1)
        train_stage(net, imgs[torch.from_numpy(pre_idx)], torch.from_numpy(pre_labels), w, n_pre,
                    args.pre_epochs, args, dev, g, args.pre_lr, "pretrain")
        if args.save_pretrained:
            torch.save(net.state_dict(), args.save_pretrained)
    pre_state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    def finetune(train_g_idx, eval_g_idx, tag, seed_off):
        seed_all(args.seed + 100 + seed_off)
        m = make_net(n_pre)
        m.load_state_dict(pre_state)
        m.reset_head(15)
        m.to(dev)
        gi = np.asarray(train_g_idx, dtype=np.int64)
        gl = np.array([veg_label(i) for i in gi], dtype=np.int64)
        if args.no_det:
            ti, tl = gi, gl
            srcw = np.ones(len(gi))
        else:
            ti, tl = np.concatenate([gi, d_idx]), np.concatenate([gl, d_lab])
            # half of the sampling mass on Grocery photos (the kiosk-like domain), half on detection crops
            srcw = np.concatenate([np.full(len(gi), 0.5 / len(gi)), np.full(len(d_idx), 0.5 / len(d_idx))])
        if args.no_balance:
            w = srcw
        else:
            # class-balanced within each source: rare classes (Ginger, Red-Beet, Asparagus) are drawn as
            # often as common ones (capped at 4x their natural rate to limit overfitting to a few photos)
            w = np.zeros(len(ti))
            for s_sel in ([np.arange(len(gi))] if args.no_det else [np.arange(len(gi)), np.arange(len(gi), len(ti))]):
                cnt = np.bincount(tl[s_sel], minlength=15).astype(np.float64)
                per = np.where(cnt > 0, 1.0 / np.maximum(cnt, 1), 0)
                per = np.minimum(per, 4.0 * np.median(per[cnt > 0]))
                ww = per[tl[s_sel]]
                w[s_sel] = ww / ww.sum() * srcw[s_sel].sum()
        ev_imgs = eval_imgs_all[torch.tensor([eval_pos[int(i)] for i in eval_g_idx])]
        ev_y = torch.tensor([veg_label(i) for i in eval_g_idx])

        def eval_fn():
            p = predict(m, ev_imgs, dev).argmax(1)
            return f"eval-acc {(p == ev_y).float().mean().item():.3f} (n={len(ev_y)})"

        log(f"stage 2 [{tag}]: fine-tune on {len(gi)} Grocery + {0 if args.no_det else len(d_idx)} detection crops, {args.ft_epochs} epochs")
        g = torch.Generator().manual_seed(args.seed + 200 + seed_off)
        neg = imgs[torch.from_numpy(neg_idx)] if args.neg_frac > 0 else None
        train_stage(m, imgs[torch.from_numpy(ti)], torch.from_numpy(tl), w, 15, args.ft_epochs, args, dev, g,
                    args.ft_lr, tag, neg_imgs=neg, eval_fn=eval_fn)
        logits = predict(m, ev_imgs, dev)
        return m, logits, ev_y

    results = {"args": vars(args), "device": str(dev)}
    if args.cv:
        # K-fold over Grocery train+val vegetables, stratified by fine class, deterministic
        allv = np.concatenate([gv_train, gv_val])
        rng = np.random.default_rng(args.seed)
        folds = [[] for _ in range(args.cv)]
        for f in sorted(set(int(fid[i]) for i in allv)):
            members = allv[fid[allv] == f]
            off = int(rng.integers(args.cv))
            if args.cv_grouped:
                # contiguous blocks in file order: consecutive Grocery photos of a class are near-duplicates
                # (same shelf, same session), so random folds put near-copies of test photos into training
                members = np.array(sorted(members, key=lambda i: str(c["paths"][i])))
                for k, chunk in enumerate(np.array_split(members, args.cv)):
                    folds[(k + off) % args.cv].extend(int(i) for i in chunk)
                continue
            members = members[rng.permutation(len(members))]
            for k, i in enumerate(members):
                folds[(k + off) % args.cv].append(int(i))
        which = [int(x) for x in args.cv_folds.split(",")] if args.cv_folds else list(range(args.cv))
        accs = []
        results["cv"] = {}
        for k in which:
            test = np.array(sorted(folds[k]))
            train = np.array(sorted(set(allv.tolist()) - set(folds[k])))
            _, logits, y = finetune(train, test, f"cv{k}", k + 1)
            mt = metrics(logits.argmax(1), y, 15)
            accs.append(mt["acc"])
            results["cv"][str(k)] = mt
            log(f"CV fold {k}: acc {mt['acc']:.4f} (n={mt['n']})")
            if args.results:
                with open(args.results, "w") as f:
                    json.dump(dict(results, cv_mean_so_far=float(np.mean(accs))), f, indent=1)
        results["cv_mean"] = float(np.mean(accs))
        results["cv_folds_run"] = which
        log(f"CV mean over folds {which}: {np.mean(accs):.4f}")
    else:
        m, logits, y = finetune(gv_train, gv_val, "final", 0)
        mt = metrics(logits.argmax(1), y, 15)
        results["val"] = mt
        results["val_pred"] = logits.argmax(1).tolist()
        results["val_paths"] = [str(c["paths"][i]).split("grocery/dataset/")[-1] for i in gv_val]
        log(f"val acc {mt['acc']:.4f} (n={mt['n']})")
        for k, v in mt["per_class"].items():
            log(f"  {k:10s} {v['correct']}/{v['n']}")
        if not args.no_export:
            export(m.cpu(), args, results)
    results["train_seconds"] = time.time() - t_start
    if args.results:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=1)
    log(f"done in {time.time() - t_start:.0f}s")


def export(m, args, results):
    import onnx
    m.eval()
    w = ExportWrapper(m).eval()
    os.makedirs(args.out_dir, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, args.name + ".onnx")
    x = torch.zeros(1, 3, args.size, args.size)
    torch.onnx.export(w, x, onnx_path, opset_version=13, input_names=["input"],
                      output_names=["logits", "embedding"], do_constant_folding=True,
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}, "embedding": {0: "batch"}})
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model)
    ops = sorted({n.op_type for n in model.graph.node})
    log("onnx ops", ops)
    with open(onnx_path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "name": args.name, "version": args.version, "kind": "classifier", "labels": D.VEG_LABELS,
        "input": {"width": args.size, "height": args.size, "layout": "NCHW", "color": "RGB",
                  "mean": MEAN, "std": STD, "resize": "stretch"},
        "output": {"format": "logits"},
        "thresholds": {"score": 0.5, "iou": 0.45},
        "sha256": sha,
    }
    with open(os.path.join(args.out_dir, args.name + ".json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    results["onnx"] = {"path": onnx_path, "bytes": os.path.getsize(onnx_path), "sha256": sha, "ops": ops}
    log("exported", onnx_path, os.path.getsize(onnx_path), "bytes sha256", sha)


if __name__ == "__main__":
    main()
