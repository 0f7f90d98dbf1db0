"""Tests of the MobileNetV2 classifier's data rules (samples.py) and score calibration (calibration.py) on
synthetic rows: no photos, no torch.

Run: cd models/training && /usr/bin/python3 -m unittest -v test_samples   (npm test runs it)
"""
from __future__ import annotations

import unittest

import numpy as np

import calibration as C
import samples as S

COARSE = {0: "Apple", 1: "Banana", 2: "Kiwi", 3: "Lemon", 4: "Avocado", 5: "Pomegranate", 6: "Potato",
          7: "Tomato", 8: "Ginger", 9: "Milk"}
FINE = {i: f"fine{i}" for i in range(20)}
DET_NAMES = ["apple", "banana", "bell_pepper", "kiwi", "lemon", "potato", "sweetpotato", "tomato", "corn"]


def grocery_rows(split: str):
    rows = []
    for coarse, fines, n in ((0, (0, 1), 5), (1, (2,), 4), (2, (3,), 3), (3, (4,), 3), (4, (5,), 3), (5, (6,), 2),
                             (6, (7, 8), 7), (7, (9,), 6), (8, (10,), 2), (9, (11,), 4)):
        for f in fines:
            for j in range(n):
                rows.append((f"grocery/{split}/{COARSE[coarse]}/{FINE[f]}_{j:03d}.jpg", f, coarse))
    return rows


def detection_rows():
    rows = []
    for c in range(len(DET_NAMES)):
        for j in range(4):
            rows.append((f"det/train/{DET_NAMES[c]}-{j}.jpg", c, (0.5, 0.5, 0.3, 0.3)))
    rows.append(("det/train/tiny.jpg", DET_NAMES.index("tomato"), (0.5, 0.5, 0.05, 0.3)))
    return rows


class HeldBackClasses(unittest.TestCase):
    def test_no_held_back_grocery_class_is_a_sample(self):
        samples = S.grocery_samples(grocery_rows("train"), COARSE, FINE)
        names = {S.VEG_LABELS[s.label] for s in samples}
        self.assertEqual(names, {"Potato", "Tomato", "Ginger"})
        for held in S.HELD_BACK_GROCERY:
            self.assertFalse(any(f"/{held}/" in s.path for s in samples), held)

    def test_no_held_back_detection_class_is_a_sample(self):
        samples = S.detection_samples(detection_rows(), DET_NAMES, "train")
        used = {s.fine for s in samples}
        self.assertEqual(used, {"bell_pepper", "potato", "sweetpotato", "tomato"})
        self.assertTrue(used.isdisjoint(S.HELD_BACK_DETECTION))

    def test_the_held_back_lists_are_the_ones_the_kiosk_learning_test_uses(self):
        self.assertEqual(set(S.HELD_BACK_GROCERY), {"Avocado", "Banana", "Kiwi", "Lemon", "Pomegranate"})
        self.assertEqual(set(S.HELD_BACK_DETECTION), {"banana", "kiwi", "lemon"})
        self.assertTrue(set(S.HELD_BACK_GROCERY).isdisjoint(S.VEG_LABELS))


class Sources(unittest.TestCase):
    def test_the_detection_valid_split_is_refused(self):
        with self.assertRaises(ValueError):
            S.detection_samples(detection_rows(), DET_NAMES, "valid")

    def test_small_boxes_are_dropped_and_sweetpotato_is_potato(self):
        samples = S.detection_samples(detection_rows(), DET_NAMES, "train")
        self.assertFalse(any(s.path.endswith("tiny.jpg") for s in samples))
        self.assertTrue(all(S.VEG_LABELS[s.label] == "Potato" for s in samples if s.fine == "sweetpotato"))

    def test_val_photos_are_only_built_from_the_val_rows(self):
        val = S.grocery_samples(grocery_rows("val"), COARSE, FINE)
        self.assertTrue(val and all("/val/" in s.path for s in val))


class DrawWeights(unittest.TestCase):
    def setUp(self):
        self.samples = S.grocery_samples(grocery_rows("train"), COARSE, FINE) + \
            S.detection_samples(detection_rows(), DET_NAMES, "train")

    def test_sources_get_their_share_and_classes_are_balanced_within_each(self):
        w = np.array(S.draw_weights(self.samples, 0.6))
        self.assertAlmostEqual(w.sum(), 1.0)
        g = np.array([s.source == S.GROCERY for s in self.samples])
        self.assertAlmostEqual(w[g].sum(), 0.6)
        labels = np.array([s.label for s in self.samples])
        for source_mask in (g, ~g):
            per_class = [w[source_mask & (labels == k)].sum() for k in set(labels[source_mask])]
            self.assertTrue(np.allclose(per_class, per_class[0]), per_class)

    def test_a_missing_source_gives_the_other_everything(self):
        only_grocery = [s for s in self.samples if s.source == S.GROCERY]
        self.assertAlmostEqual(sum(S.draw_weights(only_grocery, 0.5)), 1.0)


class GroupedFolds(unittest.TestCase):
    def setUp(self):
        self.samples = S.grocery_samples(grocery_rows("train"), COARSE, FINE) + \
            S.detection_samples(detection_rows(), DET_NAMES, "train")
        self.folds = S.grouped_folds(self.samples, 3)

    def test_folds_partition_the_grocery_photos_and_hold_no_detection_crop(self):
        flat = sorted(i for f in self.folds for i in f)
        grocery = [i for i, s in enumerate(self.samples) if s.source == S.GROCERY]
        self.assertEqual(flat, grocery)

    def test_each_fine_class_is_cut_into_contiguous_blocks(self):
        for fold in self.folds:
            by_fine = {}
            for i in fold:
                by_fine.setdefault(self.samples[i].fine, []).append(self.samples[i].path)
            for fine, paths in by_fine.items():
                members = sorted(s.path for s in self.samples if s.fine == fine and s.source == S.GROCERY)
                start = members.index(min(paths))
                self.assertEqual(sorted(paths), members[start:start + len(paths)], fine)


class Calibration(unittest.TestCase):
    def test_temperature_recovers_a_known_overconfidence(self):
        rng = np.random.default_rng(0)
        true_logits = rng.normal(size=(4000, 5)) * 2
        p = C.softmax(true_logits)
        labels = np.array([rng.choice(5, p=row) for row in p])
        t = C.fit_temperature(true_logits * 3.0, labels)
        self.assertAlmostEqual(t, 3.0, delta=0.3)

    def test_threshold_is_the_highest_that_keeps_the_coverage_at_the_precision(self):
        scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])
        correct = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0], dtype=bool)
        # 60 % coverage: 0.4 is the highest threshold that still labels six photos, all right
        self.assertEqual(C.choose_threshold(scores, correct, 0.95, 0.6), 0.4)
        rows = C.coverage_precision(scores, correct, [0.4, 0.16])
        self.assertEqual(rows[0]["coverage"], 0.6)
        self.assertEqual(rows[1]["coverage"], 0.8)
        self.assertEqual(rows[1]["precision"], 1.0)

    def test_without_a_threshold_that_reaches_both_the_most_precise_keeping_the_coverage(self):
        scores = np.array([0.9, 0.8, 0.7, 0.6])
        correct = np.array([0, 1, 1, 1], dtype=bool)
        self.assertEqual(C.choose_threshold(scores, correct, 0.95, 0.75), 0.6)


if __name__ == "__main__":
    unittest.main()
