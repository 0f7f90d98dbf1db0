"""The recipe's command line (models/training/train.py --help)."""
from __future__ import annotations

import argparse
import os

import data as D


def build_parser(description: str, repo: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=D.default_data_dir(), help="shared data folder (default: ../shared/data beside the repo)")
    ap.add_argument("--cache-dir", default="/tmp/vegkiosk-cache", help="decoded-image cache, outside the repo")
    ap.add_argument("--out-dir", default=os.path.join(repo, "models"))
    ap.add_argument("--name", default="vegetables-v1")
    ap.add_argument("--version", default="1.2.0")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--seeds", default="", help="comma list of fine-tuning seeds, one ensemble member each, all starting from the one stage-1 backbone (default: --seed; 'none': no such member)")
    ap.add_argument("--scratch-seeds", default="same", help="comma list of seeds, one ensemble member each, fine-tuned from random weights drawn with that seed (no stage 1); 'same': --seed; 'none': no such member. The exported graph averages all members' logits")
    ap.add_argument("--joint-seeds", default="none", help="comma list of seeds, one ensemble member each, trained from random weights on the 15 vegetables and the pretraining classes at once (no stage 1), whose extra head rows are dropped at export; 'none' (default): no such member")
    ap.add_argument("--joint-epochs", type=int, default=18, help="epochs of a --joint-seeds member (an epoch covers its larger pool)")
    ap.add_argument("--joint-mass", type=float, default=0.4, help="share of a --joint-seeds member's sampling mass on the non-vegetable classes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--cache-size", type=int, default=128)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--pre-epochs", type=int, default=20)
    ap.add_argument("--pre-lr", type=float, default=0.1)
    ap.add_argument("--ft-epochs", type=int, default=30)
    ap.add_argument("--ft-lr", type=float, default=0.04)
    ap.add_argument("--pre-backbone-lr", type=float, default=1.0, help="members from the stage-1 backbone: the backbone fine-tunes at this fraction of --ft-lr, the new head at --ft-lr (1: off)")
    ap.add_argument("--mix", type=float, default=0.5, help="probability of mixup/cutmix per batch")
    ap.add_argument("--smooth", type=float, default=0.1)
    ap.add_argument("--mosaic", type=float, default=0.0, help="probability that a detection crop is shown as a 2x2/3x3 grid of same-class crops (a crate)")
    ap.add_argument("--hue", type=float, default=0.0, help="random hue rotation of up to this many degrees per training image (0: off)")
    ap.add_argument("--grey", type=float, default=0.0, help="probability that a training image is shown in greyscale (0: off)")
    ap.add_argument("--min-scale", type=float, default=0.30)
    ap.add_argument("--neg-frac", type=float, default=0.0, help="fraction of non-vegetable photos per fine-tune batch with a uniform target")
    ap.add_argument("--no-det", action="store_true", help="fine-tune on Grocery vegetables only")
    ap.add_argument("--no-balance", action="store_true")
    ap.add_argument("--balance", choices=["source", "global"], default="source", help="source: classes balanced within each source, half the draws per source; global: every class the same share of all draws")
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--ema", type=float, default=0.0, help="EMA decay of the weights per step (0: off); the EMA weights are exported")
    ap.add_argument("--tta", choices=["none", "flip"], default="none", help="test-time augmentation built into the exported graph")
    ap.add_argument("--pretrained", default="", help="reuse a saved pretrain checkpoint (skips stage 1)")
    ap.add_argument("--pre-continue", type=int, default=0, help="with --pretrained: train stage 1 for this many more epochs (fresh warmup+cosine)")
    ap.add_argument("--pre-include-veg", action=argparse.BooleanOptionalAction, default=True,
                    help="stage 1 also sees the Grocery vegetable train photos with their fine labels (Floury-Potato, Sweet-Potato, ...; default since 1.2.0; --no-pre-include-veg: 1.1.0's stage 1)")
    ap.add_argument("--save-pretrained", default="/tmp/vegkiosk-cache/pretrained.pt")
    ap.add_argument("--cv", type=int, default=0, help="run K-fold CV over Grocery train+val vegetables (fine-tune stage only) instead of the final model")
    ap.add_argument("--cv-grouped", action="store_true", help="CV folds as contiguous file-order blocks per class (keeps near-duplicate shots together)")
    ap.add_argument("--cv-folds", default="", help="comma list of fold indices to run (default all)")
    ap.add_argument("--results", default="", help="write metrics JSON here")
    ap.add_argument("--save-final", default="", help="also save the exported network's state dict here (for later evaluation)")
    ap.add_argument("--weights", choices=["float32", "float16", "int8"], default="float16",
                    help="how the exported file stores large weights (float16: half the size, int8 per channel: a quarter); inference stays float32")
    ap.add_argument("--no-export", action="store_true")
    return ap
