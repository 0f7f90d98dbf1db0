"""Trains, cross-validates, calibrates and exports a vegetable classifier from a recipe file.

    /usr/bin/python3 models/training/train_classifier.py models/training/recipes/vegetables_v2.py \
        [--data ../shared/data] [--pretrained ../shared/pretrained] [--cache-dir /tmp/vegkiosk-cache] \
        [--out models] [--skip-cv] [--skip-seeds] [--no-export] [--threads 2]

Steps: the samples (samples.py's rules), the frozen trunk's view cache (views.py), grouped K-fold
cross-validation on the Grocery train photos (its out-of-fold scores fit the temperature), the extra
seeds' runs (the soup seeds' average is the shipped weights; the extra seeds only measure the spread), its
score threshold (chosen on val) and its ONNX + manifest. Writes
<out>/<name>.onnx, <out>/<name>.json and <cache-dir>/<name>-results.json (every figure the model card
quotes).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import calibration as C  # noqa: E402
import data as D  # noqa: E402
import samples as S  # noqa: E402
import views as V  # noqa: E402
from classifier_net import VegetableClassifier  # noqa: E402
from export_classifier import export  # noqa: E402
from finetune import log, predict, seed_all, train  # noqa: E402
from mobilenet_v2 import load_imagenet_mobilenet_v2  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_recipe(path: str):
    spec = importlib.util.spec_from_file_location("recipe", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipe")
    p.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data"))
    p.add_argument("--pretrained", default=os.path.join(REPO, "..", "shared", "pretrained"))
    p.add_argument("--cache-dir", default="/tmp/vegkiosk-cache")
    p.add_argument("--out", default=os.path.join(REPO, "models"))
    p.add_argument("--skip-cv", action="store_true", help="no cross-validation (the recipe's recorded temperature, else 1)")
    p.add_argument("--skip-seeds", action="store_true", help="no extra seeds (the soup seeds still run)")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe setting for an experiment (Python literal)")
    return p.parse_args(argv)


def collect_samples(data_dir: str):
    classes, train_rows, val_rows = D.read_grocery(data_dir)
    coarse = {c["coarse_id"]: c["coarse"] for c in classes}
    fine = {c["fine_id"]: c["fine"] for c in classes}
    det_names = D.read_det_names(data_dir)
    train_samples = S.grocery_samples(train_rows, coarse, fine) + \
        S.detection_samples(D.det_boxes(data_dir, "train"), det_names, "train")
    val_samples = S.grocery_samples(val_rows, coarse, fine)
    return train_samples, val_samples


def fit_once(r, trunk_state, feats, owners, samples, include, seed, start):
    """One fine-tuning run on the samples whose index is in `include`."""
    seed_all(seed)
    features = load_imagenet_mobilenet_v2(r.pretrained_file).features
    features.load_state_dict(trunk_state)
    model = VegetableClassifier(features, len(S.VEG_LABELS), r.dropout)
    labels = np.array([s.label for s in samples])
    weights = np.zeros(len(samples))
    chosen = [samples[i] for i in include]
    w = S.draw_weights(chosen, r.grocery_share)
    weights[np.asarray(include)] = w
    return train(model, feats, owners, labels, weights, start, start, r.epochs, r.steps_per_epoch,
                 r.batch, r.lr_head, r.lr_tail, r.weight_decay, r.label_smoothing, seed)


@torch.no_grad()
def imprint_class_means(model, feats: np.ndarray, labels: np.ndarray, start: int, classes: int) -> float:
    """Replaces the trained head by the normalised mean embedding of each class's photos (a nearest
    class mean classifier) and sets its scale by temperature scaling on leave-one-out cosines (each
    photo against its class's mean without itself). The model's classes are then made exactly as a
    kiosk imprints a class it learns, so the two compare fairly in one softmax: with the trained head,
    five taught fruit took 44 of 85 vegetable val photos; with class means, one. Returns the scale."""
    model.eval()
    e = torch.cat([model.embed(torch.from_numpy(feats[i:i + 256]).float(), start)
                   for i in range(0, len(feats), 256)]).numpy().astype(np.float64)
    sums = np.stack([e[labels == k].sum(0) for k in range(classes)])
    means = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    cos = e @ means.T
    own = sums[labels] - e  # each photo's class sum without the photo
    cos[np.arange(len(e)), labels] = (e * own).sum(1) / np.linalg.norm(own, axis=1)
    temperature = C.fit_temperature(cos, labels)
    model.head.weight.data.copy_(torch.from_numpy(means).float())
    model.head.log_scale.data.fill_(float(np.log(1.0 / temperature)))
    return 1.0 / temperature


def main(argv=None):
    a = parse_args(argv)
    r = load_recipe(a.recipe)
    for kv in a.set:
        k, v = kv.split("=", 1)
        setattr(r, k, eval(v, {}))  # noqa: S307 - the developer's own command line
        log(f"override {k} = {getattr(r, k)!r}")
    r.pretrained_file = os.path.join(a.pretrained, "mobilenet_v2_1.0_224_quant.tflite")
    torch.set_num_threads(a.threads)
    seed_all(r.seed)
    train_samples, val_samples = collect_samples(a.data)
    log(f"{len(train_samples)} training samples ({sum(s.source == S.GROCERY for s in train_samples)} Grocery), "
        f"{len(val_samples)} val photos")
    trunk = load_imagenet_mobilenet_v2(r.pretrained_file).features.eval()
    trunk_state = {k: v.clone() for k, v in trunk.state_dict().items()}
    views_of = lambda s: r.views_grocery if s.source == S.GROCERY else r.views_detection  # noqa: E731
    feats, owners = V.build_view_cache(trunk, train_samples, views_of, r.input_size, r.cache_cut, r.min_crop_area,
                                       r.seed, a.cache_dir)
    val_feats = V.build_eval_cache(trunk, [s.path for s in val_samples], r.input_size, r.cache_cut, a.cache_dir)
    val_labels = np.array([s.label for s in val_samples])
    # frozen stages between the cache and the first stage that learns run once here, not every step
    start = min(r.train_from, len(trunk.stages))
    if start > r.cache_cut:
        feats = V.advance(trunk, feats, r.cache_cut, start)
        val_feats = V.advance(trunk, val_feats, r.cache_cut, start)
        log(f"views advanced through the frozen stages {r.cache_cut}..{start - 1}")
    results = {"recipe": {k: getattr(r, k) for k in dir(r) if not k.startswith("_") and k != "pretrained_file"},
               "samples": {"train": len(train_samples), "val": len(val_samples)}}
    out_path = os.path.join(a.cache_dir, f"{r.name}-results.json")

    def save():
        with open(out_path, "w") as f:
            json.dump(results, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))

    # The Grocery train photos' runtime views: the folds' held-out photos, and the photos whose class
    # means make a class-means head.
    g_train = [i for i, s in enumerate(train_samples) if s.source == S.GROCERY]
    g_feats = V.build_eval_cache(trunk, [train_samples[i].path for i in g_train], r.input_size, r.cache_cut,
                                 a.cache_dir)
    if start > r.cache_cut:
        g_feats = V.advance(trunk, g_feats, r.cache_cut, start)
    g_labels = np.array([train_samples[i].label for i in g_train])

    # without cross-validation, the temperature a full run fitted (recorded in the recipe) is reused
    temperature = float(getattr(r, "temperature", None) or 1.0)
    if not a.skip_cv:
        folds = S.grouped_folds(train_samples, r.cv_folds)
        row_of = {i: j for j, i in enumerate(g_train)}
        oof = np.zeros((len(g_train), len(S.VEG_LABELS)), dtype=np.float32)
        accs = []
        for k, fold in enumerate(folds):
            held = set(fold)
            include = [i for i in range(len(train_samples)) if i not in held]
            model = fit_once(r, trunk_state, feats, owners, train_samples, include, r.seed + k, start)
            rows = [row_of[i] for i in fold]
            if r.head == "class-means":
                # the fold's head from the class means of the Grocery photos it trained on
                kept = [i for i in g_train if i not in held]
                imprint_class_means(model, g_feats[[row_of[i] for i in kept]],
                                    np.array([train_samples[i].label for i in kept]), start, len(S.VEG_LABELS))
            logits, _ = predict(model, g_feats[rows], start)
            oof[rows] = logits
            acc = float((logits.argmax(1) == np.array([train_samples[i].label for i in fold])).mean())
            accs.append(acc)
            log(f"fold {k}: {acc:.3f} ({len(fold)} photos)")
            results["cv"] = {"folds": accs}
            save()
        oof_labels = g_labels
        temperature = C.fit_temperature(oof, oof_labels)
        probs = C.softmax(oof / temperature)
        results["cv"] = {"folds": accs, "mean": float(np.mean(accs)), "temperature": temperature,
                         "curve": C.coverage_precision(probs.max(1), probs.argmax(1) == oof_labels,
                                                       np.round(np.arange(0.1, 0.96, 0.05), 2))}
        log(f"CV mean {np.mean(accs):.3f}; temperature {temperature:.3f}")
        save()

    everything = list(range(len(train_samples)))
    # The shipped weights are the average of the soup seeds' runs ("model soup", Wortsman et al. 2022):
    # fine-tuned from the same ImageNet weights, their average is one network as cheap as each, and it
    # smooths the seed-to-seed spread. Each run's own val is the spread the card reports.
    members = []
    results["seeds"] = {}
    seeds = r.soup_seeds + ([] if a.skip_seeds else [s for s in r.extra_seeds if s not in r.soup_seeds])
    for seed in seeds:
        member = fit_once(r, trunk_state, feats, owners, train_samples, everything, seed, start)
        if r.head == "class-means" and seed not in r.soup_seeds:
            imprint_class_means(member, g_feats, g_labels, start, len(S.VEG_LABELS))
        logits, _ = predict(member, val_feats, start)
        results["seeds"][str(seed)] = int((logits.argmax(1) == val_labels).sum())
        log(f"seed {seed}: val {results['seeds'][str(seed)]}/{len(val_labels)}")
        if seed in r.soup_seeds:
            members.append(member)
        save()
    model = members[0]
    model.load_state_dict({k: torch.stack([m.state_dict()[k].float() for m in members]).mean(0)
                           for k in model.state_dict()})
    if r.head == "class-means":
        scale = imprint_class_means(model, g_feats, g_labels, start, len(S.VEG_LABELS))
        temperature = 1.0  # the scale itself was fitted
        results["head"] = {"kind": "class-means", "scale": scale}
        log(f"head: class means of the Grocery train photos, scale {scale:.2f}")
    logits, _ = predict(model, val_feats, start)
    probs = C.softmax(logits / temperature)
    correct = probs.argmax(1) == val_labels
    # The threshold is chosen on val, where the issue defines it (out-of-fold Grocery train photos are
    # near-copies of their folds' neighbours and almost all right, so every threshold passes there).
    threshold = C.choose_threshold(probs.max(1), correct, r.min_precision, r.min_coverage)
    if getattr(r, "score_threshold", None) is not None:
        log(f"threshold {threshold} by the PyTorch view; shipped: the recipe's {r.score_threshold}")
        threshold = r.score_threshold
    results["val"] = {"correct": int(correct.sum()), "n": len(val_labels), "top1": float(correct.mean()),
                      "curve": C.coverage_precision(probs.max(1), correct, np.round(np.arange(0.1, 0.96, 0.05), 2)),
                      "at_threshold": C.coverage_precision(probs.max(1), correct, [threshold])[0]}
    log(f"val {int(correct.sum())}/{len(val_labels)} = {correct.mean():.3f} (PyTorch, runtime view emulated); "
        f"at threshold {threshold}: {results['val']['at_threshold']}")
    save()
    torch.save(model.state_dict(), os.path.join(a.cache_dir, f"{r.name}-final.pt"))
    if not a.no_export:
        results["onnx"] = export(model, r, temperature, threshold, a.out)
        save()
    log(f"results in {out_path}")


if __name__ == "__main__":
    main()
