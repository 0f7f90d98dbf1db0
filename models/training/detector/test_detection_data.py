"""Data rules of the detector recipe: labels, class names, splits and what augmentation does to boxes.

numpy and PIL only; the real data set is used only where present (skips naming ../shared/data otherwise).
"""
import os
import tempfile
import unittest

import numpy as np

from detector.detection_data import (AugmentSettings, augmented_sample, colour_jitter, hflip, keep_visible, letterbox,
                                     list_split, mosaic, parse_label_text, read_class_names, read_labels)

DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "data",
                                    "fruits-vegetables-yolo"))
SPEC_LABELS = ("apple banana bell_pepper cabbage carrot chilli_pepper corn cucumber eggplant garlic grape kiwi lemon "
               "lettuce mango onion orange pineapple potato sweetpotato tomato watermelon").split()


def picture_with_box(side, box, colour=(250, 10, 10)):
    """A grey picture with one solid rectangle, and that rectangle as its only label."""
    img = np.full((side, side, 3), 60, np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = colour
    return img, np.array([box], np.float32), np.array([3])


class Labels(unittest.TestCase):
    def test_yolo_rows_become_pixel_corners(self):
        classes, boxes = parse_label_text("2 0.5 0.25 0.5 0.5\n\n0 0.1 0.1 0.2 0.2\n", 22, 400, 200)
        self.assertEqual(classes.tolist(), [2, 0])
        np.testing.assert_allclose(boxes, [[100, 0, 300, 100], [0, 0, 80, 40]], atol=1e-4)

    def test_boxes_past_the_border_are_clipped(self):
        _, boxes = parse_label_text("1 0.95 0.5 0.2 0.2", 22, 100, 100)
        np.testing.assert_allclose(boxes, [[85, 40, 100, 60]], atol=1e-4)

    def test_an_unknown_class_or_a_short_row_fails_naming_the_line(self):
        with self.assertRaisesRegex(ValueError, r"f\.txt:2: class 22"):
            parse_label_text("0 .5 .5 .1 .1\n22 .5 .5 .1 .1", 22, 10, 10, "f.txt")
        with self.assertRaisesRegex(ValueError, r"f\.txt:1: expected"):
            parse_label_text("0 .5 .5 .1", 22, 10, 10, "f.txt")

    def test_class_names_come_from_data_yaml_in_order_and_nc_must_agree(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "data.yaml")
            with open(path, "w") as f:
                f.write("names:\n- apple\n- bell_pepper\nnc: 2\ntrain: x\n")
            self.assertEqual(read_class_names(path), ["apple", "bell_pepper"])
            with open(path, "w") as f:
                f.write("names: ['a', 'b', 'c']\nnc: 2\n")
            with self.assertRaisesRegex(ValueError, "nc is 2"):
                read_class_names(path)

    def test_an_image_without_a_label_file_is_kept_as_background(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "train", "images"))
            os.makedirs(os.path.join(tmp, "train", "labels"))
            for name in ("b.jpg", "a.jpg", "notes.txt"):
                open(os.path.join(tmp, "train", "images", name), "w").close()
            with open(os.path.join(tmp, "train", "labels", "a.txt"), "w") as f:
                f.write("1 0.5 0.5 0.5 0.5\n")
            samples = list_split(tmp, "train")
            self.assertEqual([os.path.basename(s.image) for s in samples], ["a.jpg", "b.jpg"])
            self.assertEqual(len(read_labels(samples[0], 2, 10, 10)[0]), 1)
            self.assertEqual(len(read_labels(samples[1], 2, 10, 10)[0]), 0)


class Augmentation(unittest.TestCase):
    def test_letterbox_centres_on_grey_114_like_the_runtime(self):
        out, scale, (ox, oy) = letterbox(np.zeros((100, 200, 3), np.uint8), 320)
        self.assertEqual(out.shape, (320, 320, 3))
        self.assertEqual((scale, ox, oy), (1.6, 0, 80))
        self.assertTrue((out[:80] == 114).all() and (out[240:] == 114).all() and (out[80:240] == 0).all())

    def test_flip_mirrors_the_box_with_the_picture(self):
        img, boxes, _ = picture_with_box(100, (10, 20, 30, 60))
        flipped, fboxes = hflip(img, boxes)
        np.testing.assert_allclose(fboxes, [[70, 20, 90, 60]])
        self.assertTrue((flipped[20:60, 70:90] == (250, 10, 10)).all())

    def test_boxes_mostly_cut_off_or_tiny_are_dropped(self):
        boxes = np.array([[-90, 0, 10, 50], [-10, 0, 90, 50], [5, 5, 6, 40]], np.float32)
        kept, classes = keep_visible(boxes, np.array([0, 1, 2]), 100)
        self.assertEqual(classes.tolist(), [1])
        np.testing.assert_allclose(kept, [[0, 0, 90, 50]])

    def test_mosaic_boxes_still_frame_their_objects(self):
        rng = np.random.default_rng(3)
        pictures = [picture_with_box(160, (40, 40, 120, 120), colour) for colour in
                    [(250, 10, 10), (10, 250, 10), (10, 10, 250), (250, 250, 10)]]
        for _ in range(5):
            img, boxes, classes = mosaic(pictures, 160, rng)
            self.assertEqual(img.shape, (160, 160, 3))
            self.assertEqual(len(boxes), len(classes))
            for x1, y1, x2, y2 in boxes:
                inner = img[int(y1) + 2:int(y2) - 2, int(x1) + 2:int(x2) - 2].astype(int)
                # Inside every kept box the picture is one of the rectangles' colours, not the grey around them.
                if inner.size:
                    self.assertGreater(np.abs(inner - 60).max(axis=-1).mean(), 150)

    def test_the_same_seed_gives_the_same_sample(self):
        pictures = [picture_with_box(96, (10, 10, 60, 50)) for _ in range(4)]
        draw = lambda: augmented_sample(0, lambda i: pictures[i], 4, 96, np.random.default_rng(7), AugmentSettings(mosaic_prob=1))
        a, b = draw(), draw()
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    def test_colour_jitter_keeps_grey_grey_and_stays_in_range(self):
        grey = np.full((8, 8, 3), 128, np.uint8)
        out = colour_jitter(grey, np.random.default_rng(1))
        self.assertLessEqual(int(out.max()) - int(out.min()), 2)


@unittest.skipUnless(os.path.isdir(DATA), f"{DATA} is absent (the Fruits and Vegetables v3 set beside the checkout)")
class RealDataSet(unittest.TestCase):
    def test_class_names_are_the_spec_labels(self):
        self.assertEqual(read_class_names(os.path.join(DATA, "data.yaml")), SPEC_LABELS)

    def test_split_sizes(self):
        self.assertEqual(len(list_split(DATA, "train")), 3831)
        self.assertEqual(len(list_split(DATA, "valid")), 363)

    def test_every_valid_label_parses(self):
        count = sum(len(read_labels(s, 22, 416, 416)[0]) for s in list_split(DATA, "valid"))
        self.assertGreater(count, 363)


if __name__ == "__main__":
    unittest.main()
