"""scripts/score-detector.py's reading of classify output and of the split's labels (numpy only)."""
import json
import os
import tempfile
import unittest

from detector.detection_data import list_split
from detector.scoring import format_markdown, predictions_from_lines, score


class Scoring(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        root = self.tmp.name
        for d in ("images", "labels"):
            os.makedirs(os.path.join(root, "valid", d))
        for stem, label in (("a", "0 0.5 0.5 0.5 0.5\n"), ("b", "1 0.25 0.25 0.5 0.5\n"), ("c", None)):
            open(os.path.join(root, "valid", "images", stem + ".jpg"), "w").close()
            if label:
                with open(os.path.join(root, "valid", "labels", stem + ".txt"), "w") as f:
                    f.write(label)
        self.samples = list_split(root, "valid")
        self.img = lambda stem: os.path.join(root, "valid", "images", stem + ".jpg")

    def tearDown(self):
        self.tmp.cleanup()

    def line(self, stem, *detections):
        return json.dumps({"file": self.img(stem), "label": None, "score": 0, "top": [], "ms": 1,
                           "detections": [{"label": l, "score": s, "box": b} for l, s, b in detections]})

    def test_normalised_boxes_match_yolo_labels_and_foreign_labels_are_counted_not_scored(self):
        lines = [self.line("a", ("apple", 0.9, [0.25, 0.25, 0.75, 0.75]), ("person", 0.8, [0, 0, 1, 1])),
                 self.line("b", ("kiwi", 0.7, [0, 0, 0.5, 0.5])), self.line("c")]
        result = score(lines, self.samples, ["apple", "kiwi"])
        self.assertAlmostEqual(result["map50"], 1.0)
        self.assertAlmostEqual(result["map50_95"], 1.0)
        self.assertEqual(result["foreign_labels"], {"person": 1})

    def test_a_photo_classify_could_not_read_counts_as_finding_nothing(self):
        lines = [self.line("a", ("apple", 0.9, [0.25, 0.25, 0.75, 0.75]))]
        result = score(lines, self.samples, ["apple", "kiwi"])
        self.assertEqual(len(result["unread_images"]), 2)
        self.assertAlmostEqual(result["per_class"]["kiwi"]["ap50"], 0.0)
        self.assertAlmostEqual(result["map50"], 0.5)

    def test_a_wrong_class_at_the_right_place_scores_nothing(self):
        lines = [self.line("a", ("kiwi", 0.9, [0.25, 0.25, 0.75, 0.75])), self.line("b"), self.line("c")]
        self.assertAlmostEqual(score(lines, self.samples, ["apple", "kiwi"])["map50"], 0.0)

    def test_prediction_lines_keep_score_and_box(self):
        preds, _ = predictions_from_lines([self.line("a", ("kiwi", 0.5, [0.1, 0.2, 0.3, 0.4]))], ["apple", "kiwi"])
        self.assertEqual(preds[os.path.abspath(self.img("a"))], [(1, 0.5, [0.1, 0.2, 0.3, 0.4])])

    def test_the_card_table_has_a_row_per_class_and_the_mean_with_an_optional_comparison_column(self):
        lines = [self.line("a", ("apple", 0.9, [0.25, 0.25, 0.75, 0.75])), self.line("b"), self.line("c")]
        result = score(lines, self.samples, ["apple", "kiwi"])
        table = format_markdown(result).splitlines()
        self.assertEqual(table[2], "| apple | 1 | 1.000 | 1.000 |")
        self.assertEqual(table[3], "| kiwi | 1 | 0.000 | 0.000 |")
        self.assertEqual(table[4], "| **all (mean of 2)** | 2 | **0.500** | **0.500** |")
        other = score([self.line("a"), self.line("b", ("kiwi", 0.7, [0, 0, 0.5, 0.5]))], self.samples, ["apple", "kiwi"])
        table = format_markdown(result, other, "AP@0.5 at 416").splitlines()
        self.assertTrue(table[0].endswith("| AP@0.5 at 416 |"))
        self.assertEqual(table[2], "| apple | 1 | 1.000 | 1.000 | 0.000 |")
        self.assertEqual(table[4], "| **all (mean of 2)** | 2 | **0.500** | **0.500** | 0.500 |")


if __name__ == "__main__":
    unittest.main()
