"""Fine-tunes YOLOX-Nano (COCO) on a YOLO-format data set, as a recipe file says (recipes/*.py).

    nice -n 10 /usr/bin/python3 models/training/detector/train_detector.py models/training/detector/recipes/produce_detector_v1.py

Writes to the recipe's work_dir: picture caches (decoded and resized once), last.pt after every epoch
(a stopped run started again resumes from it), best.pt (best valid mAP@0.5) and train.log.jsonl.
Deterministic for a given seed: each epoch's order and augmentation come from (seed, epoch), so a
resumed run continues exactly as an uninterrupted one would (up to float rounding across thread counts).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import runpy
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from detector.detection_data import (AugmentSettings, augmented_sample, letterbox, list_split,  # noqa: E402
                                     read_class_names, read_labels)
from detector.detection_metrics import evaluate  # noqa: E402
from detector.onnx_weights import coco_class_logits, load_onnx_weights  # noqa: E402
from detector.yolox_loss import yolox_loss  # noqa: E402
from detector.yolox_nano import YoloxNano, decode_boxes, flatten_levels, grids  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def log(path, **record):
    record["time"] = round(time.time(), 1)
    line = json.dumps(record)
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


class PictureCache:
    """Every picture of a split decoded once, letterboxed to side, as uint8 RGB in a memory-mapped file,
    with its boxes in those pixels: decoding JPEGs again every step would cost as much as the step."""

    def __init__(self, root, split, side, num_classes, cache_dir):
        from PIL import Image

        self.samples = list_split(root, split)
        path = os.path.join(cache_dir, f"{split}-{side}.u8")
        shape = (len(self.samples), side, side, 3)
        fresh = not os.path.exists(path) or os.path.getsize(path) != np.prod(shape)
        self.pixels = np.memmap(path + (".partial" if fresh else ""), np.uint8, "w+" if fresh else "r", shape=shape)
        self.labels = []
        for i, s in enumerate(self.samples):
            img = Image.open(s.image)
            w, h = img.size
            classes, boxes = read_labels(s, num_classes, w, h)
            scale, offset = min(side / w, side / h), None
            if fresh:
                self.pixels[i], scale, offset = letterbox(np.asarray(img.convert("RGB")), side)
            else:
                nw, nh = round(w * scale), round(h * scale)
                offset = ((side - nw) // 2, (side - nh) // 2)
            boxes = boxes * scale + np.array([offset[0], offset[1]] * 2, np.float32)
            self.labels.append((classes, boxes.astype(np.float32)))
        if fresh:
            self.pixels.flush()
            os.replace(path + ".partial", path)
            self.pixels = np.memmap(path, np.uint8, "r", shape=shape)

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        classes, boxes = self.labels[i]
        return np.array(self.pixels[i]), boxes.copy(), classes.copy()


def to_tensor(images):
    """RGB uint8 [N, H, W, 3] → BGR float 0..255 NCHW, what YOLOX and the manifest expect."""
    return torch.from_numpy(np.ascontiguousarray(np.stack(images)[..., ::-1].transpose(0, 3, 1, 2))).float()


def build_model(recipe, labels):
    if recipe.get("init_from"):
        return continued_model(recipe, labels)
    net = YoloxNano(len(labels))
    load_onnx_weights(net, os.path.join(REPO, recipe["pretrained"]), skip_class_preds=True)
    coco_names = [line.strip() for line in open(os.path.join(os.path.dirname(os.path.join(REPO, recipe["pretrained"])), "coco_classes.txt")) if line.strip()]
    prior = -math.log((1 - 0.01) / 0.01)
    coco = coco_class_logits(os.path.join(REPO, recipe["pretrained"]))
    with torch.no_grad():
        for level, conv in enumerate(net.head.cls_preds):
            torch.nn.init.normal_(conv.weight, 0, 0.01)
            conv.bias.fill_(prior)
            for c, name in enumerate(labels):
                seed_name = recipe.get("coco_seed", {}).get(name)
                if seed_name in coco_names:
                    k = coco_names.index(seed_name)
                    conv.weight[c] = torch.from_numpy(coco[level][0][k].copy())
                    conv.bias[c] = float(coco[level][1][k])
    return net


def continued_model(recipe, labels):
    """A second stage: the network starts from an earlier run's checkpoint (its best.pt) instead of COCO."""
    ckpt = torch.load(recipe["init_from"], map_location="cpu")
    if ckpt["labels"] != labels:
        raise SystemExit(f"init_from {recipe['init_from']} was trained on {ckpt['labels']}, not this data set's {labels}")
    net = YoloxNano(len(labels))
    net.load_state_dict(ckpt["model"])
    return net


@torch.no_grad()
def predict(net, images, score_threshold, iou, max_det=100):
    """Decoded, per-class NMS'd detections per picture: [(class, score, x1y1x2y2)], as the runtime decodes."""
    import torchvision

    maps = net(to_tensor(images))
    flat = flatten_levels(maps)
    gx, gy, st = grids([m.shape[2:] for m in maps])
    boxes = decode_boxes(flat, gx, gy, st)
    xyxy = torch.cat((boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2), -1)
    scores = flat[..., 4:5].sigmoid() * flat[..., 5:].sigmoid()
    out = []
    for b in range(len(images)):
        best, cls = scores[b].max(1)  # each anchor votes for its best class, as the runtime does
        keep = best >= score_threshold
        bx, sc, cl = xyxy[b][keep], best[keep], cls[keep]
        kept = torchvision.ops.batched_nms(bx, sc, cl, iou)[:max_det]
        out.append([(int(cl[i]), float(sc[i]), bx[i].tolist()) for i in kept])
    return out


def validate(net, cache, labels, recipe):
    net.eval()
    preds, truths = {}, {}
    for start in range(0, len(cache), 32):
        idx = range(start, min(start + 32, len(cache)))
        images = [cache[i][0] for i in idx]
        for i, dets in zip(idx, predict(net, images, recipe["eval_score_threshold"], recipe["eval_iou"])):
            preds[i] = dets
            _, boxes, classes = cache[i]
            truths[i] = list(zip(classes.tolist(), boxes.tolist()))
    return evaluate(preds, truths, labels)


BACKBONE_STAGES = ("stem", "dark2", "dark3", "dark4", "dark5")


def trainable_stages(recipe, epoch):
    """The backbone stages that learn in this epoch (the rest run without gradients)."""
    return tuple(recipe["backbone_stages"]) if epoch >= recipe["backbone_from_epoch"] else ()


def backbone_forward(backbone, x, stages):
    """The backbone with gradients only from the first trainable stage on: frozen stages cost no backward."""
    grad = False
    outs = {}
    for name in BACKBONE_STAGES:
        grad = grad or name in stages
        with torch.set_grad_enabled(grad):
            x = getattr(backbone, name)(x)
        outs[name] = x
    return outs["dark3"], outs["dark4"], outs["dark5"]


def param_groups(net, recipe, stages):
    groups = []
    parts = [("neck_head", [net.neck, net.head], 1.0)]
    if stages:
        parts.append(("backbone", [getattr(net.backbone, s) for s in stages], recipe["backbone_lr_factor"]))
    for name, modules, factor in parts:
        decay, no_decay = [], []
        for m in modules:
            for pname, p in m.named_parameters():
                (no_decay if pname.endswith("bias") else decay).append(p)
        groups.append({"params": decay, "weight_decay": recipe["weight_decay"], "lr_factor": factor, "name": name})
        groups.append({"params": no_decay, "weight_decay": 0.0, "lr_factor": factor, "name": name + "_bias"})
    return groups


def lr_at(step, total, recipe):
    if step < recipe["warmup_steps"]:
        return recipe["lr"] * (step + 1) / recipe["warmup_steps"]
    t = (step - recipe["warmup_steps"]) / max(1, total - recipe["warmup_steps"])
    floor = recipe["min_lr_factor"]
    return recipe["lr"] * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t)))


def make_optimizer(net, recipe, stages):
    for name in BACKBONE_STAGES:
        for p in getattr(net.backbone, name).parameters():
            p.requires_grad_(name in stages)
    return torch.optim.AdamW(param_groups(net, recipe, stages), lr=recipe["lr"])


class WeightAverage:
    """An exponential moving average of the weights (YOLOX's ModelEMA): the evaluated and exported model.
    One epoch's weights swing a few points of valid mAP; their average over the last few hundred steps is
    steadier and usually better. The decay ramps up over ramp_steps so the early average follows the model."""

    def __init__(self, net, decay, ramp_steps, updates=0):
        import copy
        self.net = copy.deepcopy(net).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.decay, self.ramp_steps, self.updates = decay, ramp_steps, updates

    @torch.no_grad()
    def update(self, net):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.ramp_steps))
        current = net.state_dict()
        for name, value in self.net.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(current[name].detach(), alpha=1 - d)


def load_recipe(path):
    recipe = {k: v for k, v in runpy.run_path(path).items() if not k.startswith("__")}
    recipe["recipe_path"] = os.path.relpath(os.path.abspath(path), REPO)
    return recipe


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipe")
    ap.add_argument("--epochs", type=int, help="override the recipe's epochs (e.g. a short smoke run)")
    ap.add_argument("--work-dir", help="override the recipe's work_dir")
    ap.add_argument("--stop-after", type=int, help="train at most this many epochs in this call, then exit (run again to go on)")
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe)
    if args.epochs:
        recipe["epochs"] = args.epochs
    work = args.work_dir or recipe["work_dir"]
    os.makedirs(work, exist_ok=True)
    log_path = os.path.join(work, "train.log.jsonl")
    torch.set_num_threads(recipe["threads"])
    torch.manual_seed(recipe["seed"])

    root = os.path.join(REPO, recipe["data_root"])
    labels = read_class_names(os.path.join(root, "data.yaml"))
    side = recipe["input_size"]
    cache_dir = os.path.join(os.path.dirname(work.rstrip("/")), "cache")
    os.makedirs(cache_dir, exist_ok=True)
    t0 = time.time()
    train = PictureCache(root, "train", side, len(labels), cache_dir)
    valid = PictureCache(root, "valid", side, len(labels), cache_dir)
    log(log_path, event="data", train=len(train), valid=len(valid), classes=len(labels), seconds=round(time.time() - t0, 1))

    net = build_model(recipe, labels)
    epochs, spe = recipe["epochs"], recipe["steps_per_epoch"]
    total_steps = epochs * spe
    start_epoch, best = 0, {"map50": -1.0}
    last_path, best_path = os.path.join(work, "last.pt"), os.path.join(work, "best.pt")
    stages = trainable_stages(recipe, 0)
    optimizer = make_optimizer(net, recipe, stages)
    ckpt = torch.load(last_path, map_location="cpu") if os.path.exists(last_path) else None
    if ckpt is not None:
        net.load_state_dict(ckpt.get("raw_model", ckpt["model"]))  # "model" is the average where there is one
        start_epoch, best = ckpt["epoch"] + 1, ckpt["best"]
        stages = tuple(ckpt["backbone_stages"])
        optimizer = make_optimizer(net, recipe, stages)
        optimizer.load_state_dict(ckpt["optimizer"])
        log(log_path, event="resume", epoch=start_epoch, best=best.get("map50"))
    elif start_epoch == 0:
        baseline = validate(net, valid, labels, recipe)
        log(log_path, event="valid", epoch=-1, map50=baseline["map50"], map50_95=baseline["map50_95"],
            note=f"start from {recipe['init_from']}" if recipe.get("init_from") else "COCO start, new class head")

    average = None
    if recipe.get("ema_decay"):
        average = WeightAverage(net, recipe["ema_decay"], recipe["ema_ramp_steps"], ckpt["ema_updates"] if ckpt is not None else 0)
        if ckpt is not None:
            average.net.load_state_dict(ckpt["model"])
    stop = epochs if args.stop_after is None else min(epochs, start_epoch + args.stop_after)
    for epoch in range(start_epoch, stop):
        if trainable_stages(recipe, epoch) != stages:
            # New parameters join: a fresh optimizer (Adam's moments of the old ones restart, briefly).
            stages = trainable_stages(recipe, epoch)
            optimizer = make_optimizer(net, recipe, stages)
        plain = epoch >= epochs - recipe["plain_last_epochs"]
        aug = AugmentSettings(mosaic_prob=0.0 if plain else recipe["mosaic_prob"], flip_prob=recipe["flip_prob"],
                              mosaic_zoom=recipe["mosaic_zoom"], single_zoom=(1.0, 1.0) if plain else recipe["single_zoom"],
                              colour=not plain)
        rng = np.random.default_rng([recipe["seed"], epoch])
        order = rng.permutation(np.resize(rng.permutation(len(train)), spe * recipe["batch"]))
        net.train()

        sums, t_epoch = {"loss": 0.0, "iou": 0.0, "obj": 0.0, "cls": 0.0}, time.time()
        for step in range(spe):
            global_step = epoch * spe + step
            lr = lr_at(global_step, total_steps, recipe)
            for g in optimizer.param_groups:
                g["lr"] = lr * g["lr_factor"]
            batch = [augmented_sample(int(i), train.__getitem__, len(train), side, rng, aug)
                     for i in order[step * recipe["batch"]:(step + 1) * recipe["batch"]]]
            x = to_tensor([b[0] for b in batch])
            targets = [(torch.from_numpy(b[2]), torch.from_numpy(b[1])) for b in batch]
            maps = net.head(net.neck(backbone_forward(net.backbone, x, stages)))
            loss, parts, _ = yolox_loss(maps, targets, len(labels))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            optimizer.step()
            if average is not None:
                average.update(net)
            sums["loss"] += float(loss)
            for k, v in parts.items():
                sums[k] += v
            if step % 20 == 0:
                log(log_path, event="step", epoch=epoch, step=step, lr=round(lr, 6), loss=round(float(loss), 4),
                    s_per_step=round((time.time() - t_epoch) / (step + 1), 2))
        evaluated = net if average is None else average.net
        result = validate(evaluated, valid, labels, recipe)
        summary = {k: round(v / spe, 4) for k, v in sums.items()}
        improved = result["map50"] > best["map50"]
        if improved:
            best = {"map50": result["map50"], "map50_95": result["map50_95"], "epoch": epoch}
        state = {"model": evaluated.state_dict(), "labels": labels, "name": recipe["name"], "version": recipe["version"],
                 "input_size": side, "score_threshold": recipe["score_threshold"],
                 "summary": {"recipe": recipe["recipe_path"], "epoch": epoch, "valid_map50": round(result["map50"], 4),
                             "valid_map50_95": round(result["map50_95"], 4), "seed": recipe["seed"]}}
        if improved:
            torch.save(state, best_path + ".partial")
            os.replace(best_path + ".partial", best_path)
        torch.save({**state, "epoch": epoch, "best": best, "optimizer": optimizer.state_dict(),
                    "backbone_stages": list(stages), "raw_model": net.state_dict(),
                    "ema_updates": None if average is None else average.updates}, last_path + ".partial")
        os.replace(last_path + ".partial", last_path)
        log(log_path, event="valid", epoch=epoch, map50=round(result["map50"], 4), map50_95=round(result["map50_95"], 4),
            best=round(best["map50"], 4), backbone=list(stages), plain=plain, minutes=round((time.time() - t_epoch) / 60, 1),
            **summary)
    if stop < epochs:
        log(log_path, event="paused", next_epoch=stop, note="run the same command again to resume")
        return
    log(log_path, event="done", best=best,
        export=f"/usr/bin/python3 models/training/detector/export_detector.py --checkpoint {best_path} --out models/{recipe['name']}.onnx")


if __name__ == "__main__":
    main()
