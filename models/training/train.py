#!/usr/bin/python3
"""vegkiosk vegetable classifier: train from scratch, evaluate, export ONNX + manifest.

Stages (see models/README.md):
  1. pretrain on every Grocery class (fine labels, train split: fruit, packages and the vegetables' fine
     classes) plus all 22 classes of the detection set's train split as box crops; Grocery val photos are
     never seen, and a cross-validation reruns this stage per fold without the fold's photos;
  2. fine-tune on the 15 coarse vegetable classes: Grocery train photos + matching detection crops,
     class-balanced sampling, mixup/cutmix, label smoothing, cosine schedule -- once per ensemble member:
     by default two members, one starting from the stage-1 backbone (--seeds) and one from random weights
     (--scratch-seeds); they err on different photos, and the exported graph averages their logits;
  3. evaluate on Grocery val (exactly the runtime's preprocessing: stretch-resize to SIZE x SIZE, RGB,
     /255, (x-mean)/std), export ONNX (opset 13, dynamic batch, outputs logits + embedding, weights stored
     as float16), write manifest.

Run with Debian's interpreter (python3-torch 1.13, python3-torchvision, python3-onnx):
  apt-get install -y python3-torch python3-torchvision python3-onnx
  /usr/bin/python3 models/training/train.py [--data DIR]          # the shipped model (stage 1 + 2 members)
  /usr/bin/python3 models/training/train.py --cv 5 --cv-grouped --no-export   # CV, stage 1 per fold
  /usr/bin/python3 models/training/train.py --no-pre-include-veg   # 1.1.0's recipe (stage 1 without vegetables)
  /usr/bin/python3 models/training/train.py --no-pre-include-veg --scratch-seeds none   # 1.0.0's recipe
Stage 1b (--pretrained P --pre-continue N) is optional and not in the shipped model.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402
import pools as P  # noqa: E402
from net import VegNet, count_macs  # noqa: E402
from fit import EMA, log, seed_all, train_stage, predict, metrics  # noqa: E402
from export import export  # noqa: E402
from options import build_parser  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def main():
    ap = build_parser(__doc__, REPO)
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

    # ---- stage 1: pretraining label space = Grocery fine classes (train; the vegetables' too unless
    # --no-pre-include-veg) + 22 detection classes
    # random weights (the scratch members') are drawn as a network with this many outputs, the label space
    # of stage 1 without the vegetables, whatever stage 1 sees: the draws depend on the head's size, and
    # this keeps a scratch member the same network when stage 1 changes
    n_random_init = len({int(f) for f in fid[is_g & ~g_veg]}) + len(det_names)
    # with --pre-include-veg the Grocery vegetable train photos are seen in both stages (val photos never),
    # so a cross-validation reruns stage 1 per fold without the fold's photos (see --cv)
    pre_idx, pre_labels, n_pre = P.pretrain_pool(src, split, fid, g_veg, len(det_names), args.pre_include_veg)

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

    # ensemble members: (seed, starts from the stage-1 backbone?) -- one member per seed, each trained
    # exactly as a single run would be, so a member can be reproduced (and checked) on its own
    pre_seeds = [] if args.seeds == "none" else ([int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed])
    scratch_seeds = ([] if args.scratch_seeds in ("", "none") else
                     [args.seed] if args.scratch_seeds == "same" else [int(x) for x in args.scratch_seeds.split(",")])
    joint_seeds = [] if args.joint_seeds in ("", "none") else [int(x) for x in args.joint_seeds.split(",")]
    # kinds: "pre" starts from the stage-1 backbone, "scratch" from random weights, "joint" from random
    # weights with the pretraining classes as extra outputs during its one stage
    members = [(sd, "pre") for sd in pre_seeds] + [(sd, "scratch") for sd in scratch_seeds] + [(sd, "joint") for sd in joint_seeds]
    if joint_seeds and args.ema > 0:
        ap.error("--ema is not supported with --joint-seeds")
    if not members:
        ap.error("no ensemble member: give --seeds, --scratch-seeds and/or --joint-seeds")
    log(f"net params {sum(p.numel() for p in make_net(n_pre).parameters()) / 1e6:.3f}M, MACs@{args.size} "
        f"{count_macs(VegNet(15), args.size) / 1e6:.1f}M; members: {len(pre_seeds)} from stage 1 (seeds {pre_seeds}), "
        f"{len(scratch_seeds)} from random weights (seeds {scratch_seeds}), {len(joint_seeds)} joint (seeds {joint_seeds})")

    def stage1(exclude=(), pretrained=args.pretrained, save_to=args.save_pretrained):
        """The backbone the --seeds members start from: stage 1, or a saved one (pretrained), or, with
        --pre-epochs 0, random weights drawn with --seed. exclude: Grocery photos stage 1 must not see
        (a cross-validation fold's)."""
        seed_all(args.seed)
        net = make_net(n_pre)
        s1_idx, s1_labels = P.without(pre_idx, pre_labels, exclude)
        loaded = False
        if pretrained and os.path.exists(pretrained):
            sd = torch.load(pretrained, map_location="cpu")
            own = net.state_dict()
            keep = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
            net.load_state_dict(keep, strict=False)
            loaded = True
            log("loaded pretrained", pretrained, f"({len(keep)}/{len(own)} tensors; head reset if label space differs)")
            if args.pre_continue > 0:
                args.pre_epochs = args.pre_continue
                loaded = False
        if not loaded and args.pre_epochs > 0:
            counts = np.bincount(s1_labels, minlength=n_pre)
            w = (1.0 / np.sqrt(counts[s1_labels])) if not args.no_balance else np.ones(len(s1_labels))
            log(f"stage 1: pretrain on {len(s1_idx)} images, {n_pre} classes, {args.pre_epochs} epochs")
            g = torch.Generator().manual_seed(args.seed + 1)
            ema = EMA(net, args.ema) if args.ema > 0 else None
            train_stage(net, imgs[torch.from_numpy(s1_idx)], torch.from_numpy(s1_labels), w, n_pre,
                        args.pre_epochs, args, dev, g, args.pre_lr, "pretrain", ema=ema)
            if ema is not None:
                net.load_state_dict(ema.state)
            if save_to:
                # the default path lies in the default cache dir, which --cache-dir elsewhere leaves uncreated
                os.makedirs(os.path.dirname(os.path.abspath(save_to)), exist_ok=True)
                torch.save(net.state_dict(), save_to)
        return {k: v.detach().clone() for k, v in net.state_dict().items()}

    def member_name(seed, kind):
        return f"{kind}{seed}"

    def random_weights(seed):
        seed_all(seed)
        return {k: v.detach().clone() for k, v in make_net(n_random_init).state_dict().items()}

    # with --cv and a stage 1 that sees Grocery vegetable photos, each fold gets its own stage 1 (below)
    stage1_per_fold = bool(args.cv and args.pre_include_veg and pre_seeds)
    shared = stage1() if pre_seeds and not stage1_per_fold else None
    backbones = [shared if kind == "pre" else random_weights(sd) for sd, kind in members]

    # the joint members' extra classes: Grocery non-vegetable fine classes and the detection classes that
    # map onto no vegetable (the mapped crops already carry a vegetable label)
    joint_idx = np.array([i for i in pre_idx if not (src[i] == 1 and int(fid[i]) in det_veg)], dtype=np.int64)
    joint_keys = sorted({("g" if src[i] == 0 else "d", int(fid[i])) for i in joint_idx})
    joint_lab = np.array([15 + joint_keys.index(("g" if src[i] == 0 else "d", int(fid[i]))) for i in joint_idx], dtype=np.int64)

    def finetune(train_g_idx, eval_g_idx, tag, seed_off, pre_state, seed, joint=False, from_stage1=False):
        seed_all(seed + 100 + seed_off)
        m = make_net(pre_state["head.weight"].shape[0])
        m.load_state_dict(pre_state)
        n_out = 15 + (len(joint_keys) if joint else 0)
        m.reset_head(n_out)
        m.to(dev)
        gi = np.asarray(train_g_idx, dtype=np.int64)
        gl = np.array([veg_label(i) for i in gi], dtype=np.int64)
        ti, tl, sources, srcw = P.finetune_pool(gi, gl, d_idx, d_lab, use_det=not args.no_det)
        w = P.sampling_weights(tl, sources, srcw, "none" if args.no_balance else args.balance)
        epochs = args.ft_epochs
        if joint:
            # the extra classes weighted like stage 1 (1/sqrt of their counts) and given --joint-mass
            cnt = np.bincount(joint_lab, minlength=n_out).astype(np.float64)
            wj = 1.0 / np.sqrt(cnt[joint_lab])
            w = np.concatenate([w / w.sum() * (1 - args.joint_mass), wj / wj.sum() * args.joint_mass])
            ti, tl = np.concatenate([ti, joint_idx]), np.concatenate([tl, joint_lab])
            epochs = args.joint_epochs
        ev_imgs = eval_imgs_all[torch.tensor([eval_pos[int(i)] for i in eval_g_idx])]
        ev_y = torch.tensor([veg_label(i) for i in eval_g_idx])

        ema = EMA(m, args.ema) if args.ema > 0 else None
        ema_net = make_net(15) if ema is not None else None

        def eval_fn():
            p = predict(m, ev_imgs, dev)[:, :15].argmax(1)
            msg = f"eval-acc {(p == ev_y).float().mean().item():.3f} (n={len(ev_y)})"
            if ema is not None:
                ema_net.load_state_dict(ema.state)
                pe = predict(ema_net, ev_imgs, dev).argmax(1)
                msg += f" ema {(pe == ev_y).float().mean().item():.3f}"
            return msg

        log(f"stage 2 [{tag}]: fine-tune on {len(gi)} Grocery + {0 if args.no_det else len(d_idx)} detection crops"
            f"{f' + {len(joint_idx)} images of {n_out - 15} other classes' if joint else ''}, {epochs} epochs")
        g = torch.Generator().manual_seed(seed + 200 + seed_off)
        neg = imgs[torch.from_numpy(neg_idx)] if args.neg_frac > 0 else None
        tileable = None if args.no_det else (np.arange(len(ti)) >= len(gi)) & (np.arange(len(ti)) < len(gi) + len(d_idx))
        train_stage(m, imgs[torch.from_numpy(ti)], torch.from_numpy(tl), w, n_out, epochs, args, dev, g,
                    args.ft_lr, tag, neg_imgs=neg, eval_fn=eval_fn, ema=ema, tileable=tileable,
                    backbone_lr_mult=args.pre_backbone_lr if from_stage1 else 1.0)
        if joint:
            # keep the vegetable rows: a softmax over them is the joint softmax given "a vegetable"
            head = torch.nn.Linear(m.dim, 15).to(dev)
            with torch.no_grad():
                head.weight.copy_(m.head.weight[:15])
                head.bias.copy_(m.head.bias[:15])
            m.head = head
        # every variant is measured (for the model card's "what each step bought"); the one configured by
        # --ema/--tta is the one returned and exported
        variants = {}
        for wname, net_w in (("last", m), ("ema", ema_net)):
            if net_w is None:
                continue
            if wname == "ema":
                net_w.load_state_dict(ema.state)
            for flip in (False, True):
                lg = predict(net_w, ev_imgs, dev, flip=flip)
                variants[f"{wname}{'+flip' if flip else ''}"] = {"logits": lg, "acc": float((lg.argmax(1) == ev_y).float().mean())}
        log(f"[{tag}] " + "  ".join(f"{k} {v['acc']:.4f}" for k, v in variants.items()))
        chosen = ("ema" if ema is not None else "last") + ("+flip" if args.tta == "flip" else "")
        out_net = ema_net if ema is not None else m
        return out_net, variants[chosen]["logits"], ev_y, {k: (v["acc"], v["logits"]) for k, v in variants.items()}

    def ensemble(train_g_idx, eval_g_idx, tag, seed_off, starts):
        """Fine-tunes every member from its start (starts: one state dict per member); returns (nets, mean
        logits, labels, accuracy per variant). Variants are measured per member ("pre1234:last", ...) and
        for the ensemble ("last", ...), whose logits are averaged as the exported graph averages them."""
        nets, all_logits, accs = [], [], {}
        per_variant = {}
        for (sd, kind), pre_state in zip(members, starts):
            name = member_name(sd, kind)
            m, logits, y, variants = finetune(train_g_idx, eval_g_idx, f"{tag}/{name}" if len(members) > 1 else tag,
                                              seed_off, pre_state, sd, joint=kind == "joint", from_stage1=kind == "pre")
            nets.append(m)
            all_logits.append(logits)
            for k, (acc, lg) in variants.items():
                per_variant.setdefault(k, []).append(lg)
                if len(members) > 1:
                    accs[f"{name}:{k}"] = acc
        for k, lgs in per_variant.items():
            accs[k] = float((torch.stack(lgs).mean(0).argmax(1) == y).float().mean())
        if len(members) > 1:
            log(f"[{tag}] ensemble of {len(members)}: " + "  ".join(f"{k} {v:.4f}" for k, v in accs.items() if ":" not in k))
        return nets, torch.stack(all_logits).mean(0), y, accs

    results = {"args": vars(args), "device": str(dev)}
    if args.cv:
        # K-fold over Grocery train+val vegetables, stratified by fine class, deterministic
        allv = np.concatenate([gv_train, gv_val])
        folds = P.cv_folds(allv, fid, c["paths"], args.cv, args.seed, args.cv_grouped)
        which = [int(x) for x in args.cv_folds.split(",")] if args.cv_folds else list(range(args.cv))
        accs = []
        results["cv"] = {}
        for k in which:
            test = np.array(sorted(folds[k]))
            train = np.array(sorted(set(allv.tolist()) - set(folds[k])))
            starts = backbones
            if stage1_per_fold:
                def fold_path(p):
                    return f"{os.path.splitext(p)[0]}-cv{k}of{args.cv}.pt" if p else ""
                log(f"CV fold {k}: stage 1 without the fold's {len(folds[k])} photos")
                fold_stage1 = stage1(exclude=folds[k], pretrained=fold_path(args.pretrained),
                                     save_to=fold_path(args.save_pretrained))
                starts = [fold_stage1 if kind == "pre" else b for (_, kind), b in zip(members, backbones)]
            _, logits, y, variants = ensemble(train, test, f"cv{k}", k + 1, starts)
            mt = metrics(logits.argmax(1), y, 15)
            mt["variants"] = variants
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
        nets, logits, y, variants = ensemble(gv_train, gv_val, "final", 0, backbones)
        mt = metrics(logits.argmax(1), y, 15)
        mt["variants"] = variants
        results["val"] = mt
        results["val_pred"] = logits.argmax(1).tolist()
        results["val_paths"] = [str(c["paths"][i]).split("grocery/dataset/")[-1] for i in gv_val]
        log(f"val acc {mt['acc']:.4f} (n={mt['n']})")
        for k, v in mt["per_class"].items():
            log(f"  {k:10s} {v['correct']}/{v['n']}")
        if args.save_final:
            for (sd, kind), m in zip(members, nets):
                torch.save(m.state_dict(), args.save_final if len(members) == 1 else
                           args.save_final.replace(".pt", f"-{member_name(sd, kind)}.pt"))
        if not args.no_export:
            export([m.cpu() for m in nets], args, results)
    results["train_seconds"] = time.time() - t_start
    if args.results:
        with open(args.results, "w") as f:
            json.dump(results, f, indent=1)
    log(f"done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
