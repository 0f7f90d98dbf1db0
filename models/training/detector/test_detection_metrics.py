"""AP on tiny hand-made cases whose answers are worked out by hand (numpy only)."""
import unittest

import numpy as np

from detector.detection_metrics import average_precision, box_iou, class_ap, evaluate

BOX = [0, 0, 10, 10]


class AveragePrecision(unittest.TestCase):
    def test_iou_of_half_overlapping_squares_is_one_third(self):
        self.assertAlmostEqual(box_iou([BOX], [[5, 0, 15, 10]])[0, 0], 50 / 150)

    def test_every_truth_found_first_is_ap_one(self):
        dets = [("a", 0.9, BOX), ("b", 0.8, BOX)]
        self.assertAlmostEqual(class_ap(dets, {"a": np.array([BOX]), "b": np.array([BOX])}, 0.5), 1.0)

    def test_a_false_positive_ranked_first_follows_the_all_point_curve(self):
        # Ranks: FP (0.9), TP (0.8), TP (0.7) over 2 truths. Recall 0, .5, 1 at precision 0, .5, .667;
        # interpolated precision is .667 over both recall steps: AP = 0.5 * 2/3 + 0.5 * 2/3.
        dets = [("a", 0.9, [50, 50, 60, 60]), ("a", 0.8, BOX), ("b", 0.7, BOX)]
        ap = class_ap(dets, {"a": np.array([BOX]), "b": np.array([BOX])}, 0.5)
        self.assertAlmostEqual(ap, 2 / 3)

    def test_a_missed_truth_caps_recall(self):
        # One of two truths found, first: precision 1 up to recall .5, nothing after. AP = 0.5.
        ap = class_ap([("a", 0.9, BOX)], {"a": np.array([BOX]), "b": np.array([BOX])}, 0.5)
        self.assertAlmostEqual(ap, 0.5)

    def test_a_duplicate_box_on_one_truth_is_a_false_positive(self):
        # TP then duplicate FP on one truth: recall reaches 1 at rank 1 with precision 1. AP = 1.
        dets = [("a", 0.9, BOX), ("a", 0.8, [0, 0, 10, 9])]
        self.assertAlmostEqual(class_ap(dets, {"a": np.array([BOX])}, 0.5), 1.0)
        # Ranked the other way round, the 0.9 box is the TP: same AP; the duplicate never counts twice.
        dets = [("a", 0.8, BOX), ("a", 0.9, [0, 0, 10, 9])]
        self.assertAlmostEqual(class_ap(dets, {"a": np.array([BOX])}, 0.5), 1.0)

    def test_the_iou_threshold_decides_a_loose_box(self):
        loose = [0, 0, 10, 16]  # IoU 100/160 = 0.625
        truths = {"a": np.array([BOX])}
        self.assertAlmostEqual(class_ap([("a", 0.9, loose)], truths, 0.5), 1.0)
        self.assertAlmostEqual(class_ap([("a", 0.9, loose)], truths, 0.7), 0.0)

    def test_monotone_envelope(self):
        self.assertAlmostEqual(average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 0.6])), 0.5 + 0.5 * 0.6)

    def test_evaluate_averages_classes_with_truths_and_the_coco_thresholds(self):
        gt = {"a": [(0, BOX)], "b": [(1, BOX)]}
        preds = {"a": [(0, 0.9, BOX)], "b": [(1, 0.9, [0, 0, 10, 16])]}  # class 1: IoU 0.625
        result = evaluate(preds, gt, ["x", "y", "z"])
        self.assertAlmostEqual(result["per_class"]["x"]["ap50_95"], 1.0)
        # 0.625 passes the thresholds 0.50, 0.55, 0.60 of ten.
        self.assertAlmostEqual(result["per_class"]["y"]["ap50_95"], 0.3)
        self.assertIsNone(result["per_class"]["z"]["ap50"])
        self.assertAlmostEqual(result["map50"], 1.0)
        self.assertAlmostEqual(result["map50_95"], 0.65)


if __name__ == "__main__":
    unittest.main()
