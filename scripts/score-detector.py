#!/usr/bin/python3
"""mAP of a detector on a YOLO split, measured through the shipped runtime (`vegkiosk classify`).

    /usr/bin/python3 scripts/score-detector.py --model models/produce-detector-v1.onnx
    /usr/bin/python3 scripts/score-detector.py --model F --split valid --json   # machine-readable
    /usr/bin/python3 scripts/score-detector.py --model F --markdown --compare F416.json  # the model card's table

Runs `node bin/vegkiosk.js classify --json --min-score 0.01 --model F <split>/images` once over the whole
split (so decoding, letterbox and NMS are the runtime's own, not the training's), then prints mAP@0.5
and mAP@0.5:0.95 (VOC/COCO all-point interpolation; models/training/detector/detection_metrics.py),
overall and per class. Needs numpy; the data set from ../shared/data beside the checkout.
"""
import argparse
import json
import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "models", "training"))
from detector.detection_data import list_split, read_class_names  # noqa: E402
from detector.scoring import format_markdown, format_table, score  # noqa: E402

DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data", "fruits-vegetables-yolo")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="detector .onnx (its manifest beside it)")
    ap.add_argument("--data", default=DEFAULT_DATA, help="YOLO data set root with data.yaml (default: ../shared/data/fruits-vegetables-yolo)")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--min-score", default="0.01", help="passed to classify (default 0.01, so the PR curve is whole)")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("--markdown", action="store_true", help="print the model card's per-class table")
    ap.add_argument("--compare", metavar="JSON", help="with --markdown: a saved --json result (the same weights at "
                                                      "another size, say) whose AP@0.5 becomes a last column")
    ap.add_argument("--compare-title", default="AP@0.5 at 416", help="that column's heading")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.data, "data.yaml")):
        sys.exit(f"score-detector: {args.data} has no data.yaml (the data set lives in ../shared/data beside the checkout)")
    names = read_class_names(os.path.join(args.data, "data.yaml"))
    samples = list_split(args.data, args.split)
    cmd = ["node", os.path.join(REPO, "bin", "vegkiosk.js"), "classify", "--json", "--min-score", args.min_score,
           "--model", args.model, os.path.join(args.data, args.split, "images")]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        sys.exit(f"score-detector: {' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    result = score(lines, samples, names)
    ms = sorted(json.loads(line)["ms"] for line in lines if line.strip())
    result["model"] = args.model
    result["median_ms_per_photo"] = ms[len(ms) // 2] if ms else None
    if args.json:
        print(json.dumps(result))
    elif args.markdown:
        compare = json.load(open(args.compare)) if args.compare else None
        print(format_markdown(result, compare, args.compare_title))
    else:
        print(format_table(result, f"{args.model} on {args.split} ({len(samples)} images), "
                                   f"median {result['median_ms_per_photo']} ms per photo through classify"))


if __name__ == "__main__":
    main()
