"""A training run stopped after an epoch and started again ends with the same weights as one that ran
through: checkpoints carry everything the next epoch needs, and each epoch's draws come from the seed.

A tiny synthetic data set (8 pictures of 64 px) and two 2-step epochs, so it takes seconds. Needs torch,
torchvision, onnx and ../shared/pretrained (the recipe starts from the COCO weights).
"""
import contextlib
import io
import json
import os
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PRETRAINED = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", "shared", "pretrained", "yolox_nano.onnx"))


def unavailable():
    if not os.path.exists(PRETRAINED):
        return f"{PRETRAINED} is absent (../shared/pretrained beside the checkout holds the COCO weights)"
    for module in ("torch", "torchvision", "onnx", "PIL"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is missing (sudo scripts/install-test-deps.sh)"
    return None


def write_data_set(root):
    from PIL import Image
    rng = np.random.default_rng(0)
    with open(os.path.join(root, "data.yaml"), "w") as f:
        f.write("names:\n- red\n- green\nnc: 2\n")
    for split, count in (("train", 8), ("valid", 4)):
        for d in ("images", "labels"):
            os.makedirs(os.path.join(root, split, d))
        for i in range(count):
            img = np.full((64, 64, 3), 90, np.uint8)
            c = i % 2
            x, y = rng.integers(4, 30, 2)
            img[y:y + 28, x:x + 28] = (220, 30, 30) if c == 0 else (30, 200, 40)
            Image.fromarray(img).save(os.path.join(root, split, "images", f"p{i}.jpg"))
            with open(os.path.join(root, split, "labels", f"p{i}.txt"), "w") as f:
                f.write(f"{c} {(x + 14) / 64} {(y + 14) / 64} {28 / 64} {28 / 64}\n")


RECIPE = """
name = "tiny"
version = "0.0.1"
data_root = {data!r}
pretrained = {pretrained!r}
work_dir = "unused"
input_size = 64
epochs = 2
steps_per_epoch = 2
batch = 2
backbone_stages = ("dark5",)
backbone_from_epoch = 1
backbone_lr_factor = 0.3
lr = 1e-3
warmup_steps = 1
min_lr_factor = 0.05
weight_decay = 5e-4
mosaic_prob = 0.5
flip_prob = 0.5
mosaic_zoom = (0.5, 1.5)
single_zoom = (0.6, 1.3)
plain_last_epochs = 1
eval_score_threshold = 0.01
eval_iou = 0.45
score_threshold = 0.3
coco_seed = {{"red": "apple"}}
seed = 5
threads = 1
"""


@unittest.skipIf(unavailable(), unavailable() or "")
class Resume(unittest.TestCase):
    def test_a_stopped_run_resumes_to_the_same_weights(self):
        self.check_resume("")

    def test_a_stopped_run_with_a_weight_average_resumes_to_the_same_average(self):
        import torch
        a, b = self.check_resume("ema_decay = 0.9\nema_ramp_steps = 2\n")
        self.assertEqual((a["ema_updates"], b["ema_updates"]), (4, 4))
        # The checkpoint's model is the average, not the last step's weights.
        self.assertFalse(all(torch.equal(t, a["raw_model"][k]) for k, t in a["model"].items()))
        for name, tensor in a["raw_model"].items():
            self.assertTrue(torch.equal(tensor, b["raw_model"][name]), name)

    def test_a_second_stage_starts_from_the_first_stages_checkpoint(self):
        import torch
        from detector import train_detector
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "data")
            os.makedirs(data)
            write_data_set(data)
            first, second = os.path.join(tmp, "first.py"), os.path.join(tmp, "second.py")
            with open(first, "w") as f:
                f.write(RECIPE.format(data=data, pretrained=PRETRAINED))
            with open(second, "w") as f:
                f.write(RECIPE.format(data=data, pretrained=PRETRAINED) + f"init_from = {os.path.join(tmp, 'one', 'best.pt')!r}\n"
                        "epochs = 1\nbackbone_stages = ('dark4', 'dark5')\nbackbone_from_epoch = 0\nlr = 1e-9\nwarmup_steps = 1\n")
            with contextlib.redirect_stdout(io.StringIO()):
                train_detector.main([first, "--work-dir", os.path.join(tmp, "one")])
                train_detector.main([second, "--work-dir", os.path.join(tmp, "two")])
            start = torch.load(os.path.join(tmp, "one", "best.pt"))["model"]
            after = torch.load(os.path.join(tmp, "two", "last.pt"))
            self.assertEqual(after["backbone_stages"], ["dark4", "dark5"])
            # A learning rate of 1e-9 barely moves the weights: the second stage began where the first ended.
            for name, tensor in start.items():
                self.assertTrue(torch.allclose(tensor, after["raw_model"][name], atol=1e-5), name)
            with self.assertRaisesRegex(SystemExit, "not this data set's"):
                train_detector.continued_model({"init_from": os.path.join(tmp, "one", "best.pt")}, ["blue", "green"])

    def check_resume(self, extra_recipe):
        import torch
        from detector import train_detector
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "data")
            os.makedirs(data)
            write_data_set(data)
            recipe = os.path.join(tmp, "tiny.py")
            with open(recipe, "w") as f:
                f.write(RECIPE.format(data=data, pretrained=PRETRAINED) + extra_recipe)
            run = lambda work, *extra: train_detector.main([recipe, "--work-dir", os.path.join(tmp, work), *extra])
            with contextlib.redirect_stdout(io.StringIO()):
                run("through")
                run("stopped", "--stop-after", "1")
                paused = torch.load(os.path.join(tmp, "stopped", "last.pt"))
                run("stopped")
            self.assertEqual(paused["epoch"], 0)
            a = torch.load(os.path.join(tmp, "through", "last.pt"))
            b = torch.load(os.path.join(tmp, "stopped", "last.pt"))
            self.assertEqual((a["epoch"], b["epoch"]), (1, 1))
            self.assertEqual(a["backbone_stages"], ["dark5"])
            for name, tensor in a["model"].items():
                self.assertTrue(torch.equal(tensor, b["model"][name]), name)
            with open(os.path.join(tmp, "stopped", "train.log.jsonl")) as f:
                events = [json.loads(line)["event"] for line in f]
            self.assertIn("paused", events)
            self.assertIn("resume", events)
            self.assertTrue(os.path.exists(os.path.join(tmp, "stopped", "best.pt")))
            # What export_detector.py reads from a checkpoint.
            self.assertEqual((b["labels"], b["input_size"], b["name"]), (["red", "green"], 64, "tiny"))
            return a, b


if __name__ == "__main__":
    unittest.main()
