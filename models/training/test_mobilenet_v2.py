"""Tests of the TFLite reader and the PyTorch MobileNetV2 it loads (needs torch, the pretrained file in
../shared/pretrained and, for the ImageNet check, the Grocery photos in ../shared/data; each test skips
with the reason when its part is absent).

Run: cd models/training && /usr/bin/python3 -m unittest -v test_mobilenet_v2   (npm test runs it)
"""
from __future__ import annotations

import glob
import os
import unittest

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the suite reports every test as skipped, with the reason
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.realpath(os.path.join(HERE, "..", "..", "..", "shared"))
TFLITE = os.path.join(SHARED, "pretrained", "mobilenet_v2_1.0_224_quant.tflite")
LABELS = os.path.join(SHARED, "pretrained", "imagenet_labels.txt")
GROCERY = os.path.join(SHARED, "data", "grocery", "dataset", "train", "Vegetables")

# Grocery folders whose photos are a plain ImageNet class (the others are in bags or are no ImageNet class)
PLAIN = {"Cabbage": "head cabbage", "Zucchini": "zucchini, courgette", "Pepper": "bell pepper"}
PHOTOS_PER_CLASS = 16


def needs(*paths):
    missing = [p for p in paths if not os.path.exists(p)]
    if torch is None:
        return unittest.skip("needs python3-torch (sudo scripts/install-test-deps.sh)")
    if missing:
        return unittest.skip(f"needs {missing[0]} (../shared beside the checkout)")
    return lambda f: f


def center_view(path: str, size: int = 224) -> np.ndarray:
    from PIL import Image
    im = Image.open(path).convert("RGB")
    W, H = im.size
    s = size / min(W, H)
    im = im.resize((max(size, round(W * s)), max(size, round(H * s))), Image.BILINEAR)
    left, top = (im.size[0] - size) // 2, (im.size[1] - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.float32)


class SamePadding(unittest.TestCase):
    @needs()
    def test_stride_two_pads_only_after_on_even_sizes(self):
        from mobilenet_v2 import SameConv, same_padding
        self.assertEqual(same_padding(224, 3, 2), (0, 1))
        self.assertEqual(same_padding(7, 3, 2), (1, 1))
        self.assertEqual(same_padding(14, 3, 1), (1, 1))
        conv = SameConv(1, 1, 3, 2, relu6=False)
        conv.conv.weight.data.fill_(1.0)
        conv.conv.bias.data.zero_()
        x = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
        # TF: output (0,0) sums rows 0-2 x cols 0-2; output (1,1) rows 2-3 x cols 2-3 (row and col 4 are the pad)
        expected = torch.tensor([[[[45.0, 39.0], [66.0, 50.0]]]])
        self.assertTrue(torch.equal(conv(x), expected), conv(x))
        conv.symmetric_padding = True
        self.assertFalse(torch.equal(conv(x), expected), "symmetric padding must differ from TF's")


class TfliteReader(unittest.TestCase):
    @needs(TFLITE)
    def test_reads_the_graph_mobilenet_v2_needs(self):
        import tflite_reader as tfl
        m = tfl.read_tflite(TFLITE)
        codes = [op.opcode for op in m.operators]
        self.assertEqual(len(codes), 66)
        self.assertEqual(codes.count(tfl.CONV_2D), 36)
        self.assertEqual(codes.count(tfl.DEPTHWISE_CONV_2D), 17)
        self.assertEqual(codes.count(tfl.ADD), 10)
        inp = m.tensors[m.inputs[0]]
        self.assertEqual(inp.shape, (1, 224, 224, 3))
        self.assertAlmostEqual(float(inp.scale[0]), 1 / 128)
        self.assertEqual(int(inp.zero_point[0]), 128)
        first = m.tensors[m.operators[0].inputs[1]]
        self.assertEqual(first.shape, (32, 3, 3, 3))
        self.assertEqual(m.operators[0].stride, (2, 2))
        self.assertEqual(m.operators[0].activation, tfl.ACT_RELU6)


class ImageNetClasses(unittest.TestCase):
    """The converted network names the ImageNet class of plain vegetable photos (in its top 5 for 90 %,
    first for 60 %: some zucchini are called cucumber); the same check fails
    when the channel order or the padding is wrong (so it can catch those mistakes)."""

    @classmethod
    def setUpClass(cls):
        cls.net = None
        if torch is None or not os.path.exists(TFLITE) or not os.path.isdir(GROCERY):
            return
        from mobilenet_v2 import load_imagenet_mobilenet_v2
        torch.set_num_threads(2)
        cls.net = load_imagenet_mobilenet_v2(TFLITE)
        labels = [line.strip() for line in open(LABELS)]
        cls.batches = {}
        for folder, name in PLAIN.items():
            files = sorted(glob.glob(os.path.join(GROCERY, folder, "**", "*.jpg"), recursive=True))[:PHOTOS_PER_CLASS]
            x = torch.from_numpy(np.stack([center_view(f) for f in files])).permute(0, 3, 1, 2) / 127.5 - 1
            cls.batches[folder] = (x, labels.index(name))

    @staticmethod
    def holds(r) -> bool:
        return r["top5"] >= 0.9 and r["top1"] >= 0.6

    def rates(self, bgr=False, symmetric=False):
        for conv in self.net.features.convs():
            conv.symmetric_padding = symmetric
        out = {}
        with torch.no_grad():
            for folder, (x, k) in self.batches.items():
                p = F.softmax(self.net(x.flip(1) if bgr else x), 1)
                out[folder] = {"top1": float((p.argmax(1) == k).float().mean()),
                               "top5": float((p.topk(5, 1).indices == k).any(1).float().mean()),
                               "p": float(p[:, k].mean())}
        for conv in self.net.features.convs():
            conv.symmetric_padding = False
        return out

    @needs(TFLITE, GROCERY)
    def test_top5_holds_the_class(self):
        for folder, r in self.rates().items():
            self.assertTrue(self.holds(r), f"{folder}: {r}")

    @needs(TFLITE, GROCERY)
    def test_a_wrong_channel_order_fails_the_check(self):
        rates = self.rates(bgr=True)
        self.assertFalse(all(self.holds(r) for r in rates.values()), rates)

    @needs(TFLITE, GROCERY)
    def test_symmetric_padding_lowers_the_confidence_in_the_class(self):
        right, wrong = self.rates(), self.rates(symmetric=True)
        mean = lambda rates: np.mean([r["p"] for r in rates.values()])  # noqa: E731
        self.assertGreater(mean(right), mean(wrong), (right, wrong))


if __name__ == "__main__":
    unittest.main()
