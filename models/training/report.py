#!/usr/bin/python3
"""Print markdown tables (per-class accuracy, confusion matrix, CV folds) from train.py --results JSON files.
usage: report.py final.json [cv.json ...]"""
import json
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from data import VEG_LABELS  # noqa: E402

SHORT = ["Asp", "Aub", "Cab", "Car", "Cuc", "Gar", "Gin", "Lee", "Mus", "Oni", "Pep", "Pot", "RBe", "Tom", "Zuc"]


def tables(mt, title):
    print(f"### {title}: top-1 {mt['acc']:.4f} ({sum(v['correct'] for v in mt['per_class'].values())}/{mt['n']})\n")
    print("| class | correct / n | accuracy |\n| --- | --- | --- |")
    for k, v in mt["per_class"].items():
        acc = "-" if v["acc"] is None else "%.2f" % v["acc"]
        print(f"| {k} | {v['correct']} / {v['n']} | {acc} |")
    print("\nConfusion matrix (rows = truth, columns = prediction):\n")
    print("| truth \\ pred | " + " | ".join(SHORT) + " |")
    print("| --- " * (len(SHORT) + 1) + "|")
    for i, row in enumerate(mt["confusion"]):
        print(f"| {VEG_LABELS[i]} | " + " | ".join(str(x) if x else "." for x in row) + " |")
    print()


def main():
    for p in sys.argv[1:]:
        r = json.load(open(p))
        if "val" in r:
            tables(r["val"], f"Grocery val ({p})")
        if "cv" in r:
            print(f"### CV ({p}): folds {r['cv_folds_run']}, mean {r['cv_mean']:.4f}\n")
            print("| fold | n | top-1 |\n| --- | --- | --- |")
            for k, v in r["cv"].items():
                print(f"| {k} | {v['n']} | {v['acc']:.4f} |")
            print()


if __name__ == "__main__":
    main()
