"""Tests of the recipe's data rules (pools.py) on a synthetic cache index: no photos, no torch.

Run: cd models/training && /usr/bin/python3 -m unittest -v test_pools   (test/training-pools.test.ts runs it)
"""
from __future__ import annotations

import unittest

import numpy as np

import pools as P

# A small cache index shaped like data.build_cache's: Grocery photos (src 0) of fine classes 0-5 in the
# train (split 0) and val (split 1) splits, then detection crops (src 1) of detection classes 0-2.
# Fine classes 3, 4, 5 are vegetables.
VEG_FINE = {3, 4, 5}
N_DET = 3


def synthetic_index():
    rows = []  # (src, split, fid, path)
    for f, n_train, n_val in ((0, 12, 3), (1, 9, 2), (2, 7, 2), (3, 23, 4), (4, 11, 3), (5, 6, 2)):
        for split, n in ((0, n_train), (1, n_val)):
            for j in range(n):
                rows.append((0, split, f, f"grocery/{'train' if split == 0 else 'val'}/class{f}/img{j:03d}.jpg"))
    for d, n in ((0, 30), (1, 14), (2, 5)):
        for j in range(n):
            rows.append((1, 0, d, f"det/train/{d}-{j:03d}.jpg"))
    # shuffled so that no rule can lean on the order photos happen to be listed in
    order = np.random.default_rng(0).permutation(len(rows))
    rows = [rows[i] for i in order]
    src = np.array([r[0] for r in rows])
    split = np.array([r[1] for r in rows])
    fid = np.array([r[2] for r in rows])
    paths = np.array([r[3] for r in rows])
    g_veg = (src == 0) & np.isin(fid, list(VEG_FINE))
    return src, split, fid, paths, g_veg


class PretrainPool(unittest.TestCase):
    def setUp(self):
        self.src, self.split, self.fid, self.paths, self.g_veg = synthetic_index()

    def test_never_holds_a_grocery_val_photo(self):
        for include_veg in (True, False):
            idx, _, _ = P.pretrain_pool(self.src, self.split, self.fid, self.g_veg, N_DET, include_veg)
            grocery_val = (self.src[idx] == 0) & (self.split[idx] == 1)
            self.assertFalse(grocery_val.any(), f"include_veg={include_veg}")

    def test_with_vegetables_holds_every_grocery_train_photo_and_every_crop(self):
        idx, labels, n = P.pretrain_pool(self.src, self.split, self.fid, self.g_veg, N_DET, True)
        expected = np.where(((self.src == 0) & (self.split == 0)) | (self.src == 1))[0]
        self.assertEqual(sorted(idx.tolist()), sorted(expected.tolist()))
        self.assertEqual(n, 6 + N_DET)
        self.assertEqual(len(labels), len(idx))

    def test_without_vegetables_holds_no_vegetable_photo(self):
        idx, _, n = P.pretrain_pool(self.src, self.split, self.fid, self.g_veg, N_DET, False)
        self.assertFalse(self.g_veg[idx].any())
        self.assertTrue(((self.src[idx] == 0) & (self.split[idx] == 0)).any())
        self.assertEqual(n, 3 + N_DET)

    def test_labels_are_one_per_grocery_fine_class_then_one_per_detection_class(self):
        idx, labels, n = P.pretrain_pool(self.src, self.split, self.fid, self.g_veg, N_DET, True)
        key_of_label = {}
        for i, lab in zip(idx, labels):
            key = (int(self.src[i]), int(self.fid[i]))
            self.assertEqual(key_of_label.setdefault(int(lab), key), key, "one label, two classes")
        self.assertEqual(sorted(key_of_label), list(range(n)))
        grocery = [lab for lab, (s, _) in key_of_label.items() if s == 0]
        detection = [lab for lab, (s, _) in key_of_label.items() if s == 1]
        self.assertLess(max(grocery), min(detection))

    def test_without_drops_exactly_the_given_photos_and_keeps_labels_aligned(self):
        idx, labels, _ = P.pretrain_pool(self.src, self.split, self.fid, self.g_veg, N_DET, True)
        drop = [int(i) for i in idx[::7]] + [10**6]  # one index not in the pool at all
        kept_idx, kept_labels = P.without(idx, labels, drop)
        self.assertEqual(set(kept_idx.tolist()), set(idx.tolist()) - set(drop))
        label_of = dict(zip(idx.tolist(), labels.tolist()))
        self.assertEqual(kept_labels.tolist(), [label_of[i] for i in kept_idx.tolist()])


class CrossValidationFolds(unittest.TestCase):
    def setUp(self):
        self.src, self.split, self.fid, self.paths, self.g_veg = synthetic_index()
        self.photos = np.where(self.g_veg)[0]  # train + val vegetables, as --cv uses them

    def folds(self, k=5, seed=1234, grouped=True):
        return P.cv_folds(self.photos, self.fid, self.paths, k, seed, grouped)

    def test_every_photo_is_in_exactly_one_fold(self):
        for grouped in (True, False):
            folds = self.folds(grouped=grouped)
            flat = [i for f in folds for i in f]
            self.assertEqual(sorted(flat), sorted(self.photos.tolist()), f"grouped={grouped}")

    def test_each_class_is_spread_evenly_over_the_folds(self):
        for grouped in (True, False):
            for f in VEG_FINE:
                sizes = [sum(1 for i in fold if self.fid[i] == f) for fold in self.folds(grouped=grouped)]
                self.assertLessEqual(max(sizes) - min(sizes), 1, f"class {f}, grouped={grouped}: {sizes}")

    def test_grouped_folds_hold_contiguous_runs_of_each_class_in_file_order(self):
        for k, fold in enumerate(self.folds(grouped=True)):
            for f in VEG_FINE:
                in_class = sorted(self.photos[self.fid[self.photos] == f].tolist(), key=lambda i: self.paths[i])
                position = {i: p for p, i in enumerate(in_class)}
                mine = sorted(position[i] for i in fold if self.fid[i] == f)
                self.assertEqual(mine, list(range(mine[0], mine[0] + len(mine))), f"fold {k}, class {f}")

    def test_folds_depend_only_on_the_seed(self):
        self.assertEqual(self.folds(seed=7, grouped=False), self.folds(seed=7, grouped=False))
        self.assertNotEqual(self.folds(seed=7, grouped=False), self.folds(seed=8, grouped=False))

    def test_stage_one_of_a_fold_sees_none_of_its_photos(self):
        idx, labels, _ = P.pretrain_pool(self.src, self.split, self.fid, self.g_veg, N_DET, True)
        for k, fold in enumerate(self.folds()):
            kept, _ = P.without(idx, labels, fold)
            self.assertFalse(set(kept.tolist()) & set(fold), f"fold {k}")
            # and loses nothing else
            self.assertEqual(len(kept), len(set(idx.tolist()) - set(fold)))


class FinetuneSampling(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(3)
        # Grocery photos of 4 classes (class 2 rare), detection crops of 3 classes (class 3 absent)
        self.g_labels = np.array([0] * 40 + [1] * 25 + [2] * 12 + [3] * 30)
        self.d_labels = np.array([0] * 60 + [1] * 15 + [2] * 33)
        self.g_idx = rng.permutation(1000)[: len(self.g_labels)]
        self.d_idx = 2000 + np.arange(len(self.d_labels))

    def pool(self, use_det=True):
        return P.finetune_pool(self.g_idx, self.g_labels, self.d_idx, self.d_labels, use_det)

    @staticmethod
    def mass(w, labels, sel, k):
        return float(w[sel][labels[sel] == k].sum())

    def test_pool_is_the_grocery_photos_then_the_crops_each_with_half_the_mass(self):
        idx, labels, sources, mass = self.pool()
        self.assertEqual(idx.tolist(), self.g_idx.tolist() + self.d_idx.tolist())
        self.assertEqual(labels.tolist(), self.g_labels.tolist() + self.d_labels.tolist())
        self.assertAlmostEqual(float(mass[sources[0]].sum()), 0.5)
        self.assertAlmostEqual(float(mass[sources[1]].sum()), 0.5)
        self.assertEqual(idx[sources[1]].tolist(), self.d_idx.tolist())

    def test_pool_without_crops_is_the_grocery_photos(self):
        idx, labels, sources, _ = self.pool(use_det=False)
        self.assertEqual(idx.tolist(), self.g_idx.tolist())
        self.assertEqual(len(sources), 1)

    def test_source_balance_gives_each_class_of_a_source_the_same_share_of_its_half(self):
        idx, labels, sources, mass = self.pool()
        w = P.sampling_weights(labels, sources, mass, "source")
        for sel in sources:
            present = sorted(set(labels[sel].tolist()))
            shares = [self.mass(w, labels, sel, k) for k in present]
            for s in shares:
                self.assertAlmostEqual(s, 0.5 / len(present))

    def test_source_balance_caps_a_tiny_class_at_four_times_the_median_rate(self):
        labels = np.array([0] * 40 + [1] * 40 + [2] * 40 + [3] * 2)
        sel = np.arange(len(labels))
        w = P.sampling_weights(labels, [sel], np.full(len(labels), 1 / len(labels)), "source")
        per_image = {k: float(w[labels == k][0]) for k in range(4)}
        # uncapped, a class-3 photo would be drawn 20x as often as a class-0 photo
        self.assertAlmostEqual(per_image[3] / per_image[0], 4.0)

    def test_global_balance_gives_every_class_the_same_share_split_over_its_sources(self):
        idx, labels, sources, mass = self.pool()
        w = P.sampling_weights(labels, sources, mass, "global")
        present = sorted(set(labels.tolist()))
        for k in present:
            self.assertAlmostEqual(float(w[labels == k].sum()), 1 / len(present), msg=f"class {k}")
        # class 3 exists only among the Grocery photos, so all of its share is there
        self.assertAlmostEqual(self.mass(w, labels, sources[0], 3), 1 / len(present))
        self.assertAlmostEqual(self.mass(w, labels, sources[0], 0), self.mass(w, labels, sources[1], 0))

    def test_no_balance_keeps_the_source_mass(self):
        idx, labels, sources, mass = self.pool()
        self.assertIs(P.sampling_weights(labels, sources, mass, "none"), mass)

    def test_an_unknown_balance_mode_is_refused(self):
        idx, labels, sources, mass = self.pool()
        with self.assertRaisesRegex(ValueError, "unknown balance 'even'"):
            P.sampling_weights(labels, sources, mass, "even")


if __name__ == "__main__":
    unittest.main()
