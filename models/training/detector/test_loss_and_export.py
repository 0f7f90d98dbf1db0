"""SimOTA assignment and loss behave, and the export's in-graph decoding is what the runtime reads.

Needs torch (and onnx plus node with onnxruntime-node for the export case); skips naming what is missing.
"""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np

try:
    import torch
except ImportError:
    torch = None

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


@unittest.skipIf(torch is None, "torch is missing (sudo scripts/install-test-deps.sh)")
class Loss(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        from detector.yolox_nano import YoloxNano
        self.net = YoloxNano(3)
        self.x = torch.rand(1, 3, 64, 64) * 255
        self.target = [(torch.tensor([1]), torch.tensor([[8.0, 16.0, 40.0, 56.0]]))]

    def test_assigned_anchors_lie_near_the_object(self):
        from detector.yolox_loss import cxcywh_to_xyxy, simota_assign
        from detector.yolox_nano import decode_boxes, flatten_levels, grids
        maps = self.net(self.x)
        flat = flatten_levels(maps).detach()
        gx, gy, st = grids([m.shape[2:] for m in maps])
        preds = cxcywh_to_xyxy(decode_boxes(flat, gx, gy, st))[0]
        classes, boxes = self.target[0]
        fg, matched = simota_assign(boxes, classes, preds, flat[0, :, 4], flat[0, :, 5:], (gx + .5) * st, (gy + .5) * st, st, 3)
        self.assertGreaterEqual(int(fg.sum()), 1)
        ax, ay = ((gx + .5) * st)[fg], ((gy + .5) * st)[fg]
        # Centre prior: within the box or 2.5 strides of its centre (24, 36).
        self.assertTrue(bool(((ax - 24).abs() <= 2.5 * st[fg]).all() and ((ay - 36).abs() <= 2.5 * st[fg]).all()))
        self.assertTrue(bool((matched == 0).all()))

    def test_a_few_steps_on_one_picture_lower_the_loss(self):
        from detector.yolox_loss import yolox_loss
        opt = torch.optim.Adam(self.net.parameters(), 1e-3)
        losses = []
        for _ in range(8):
            loss, parts, num_fg = yolox_loss(self.net(self.x), self.target, 3)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
        self.assertLess(losses[-1], losses[0])
        self.assertEqual(set(parts), {"iou", "obj", "cls"})

    def test_a_picture_without_objects_only_teaches_background(self):
        from detector.yolox_loss import yolox_loss
        loss, parts, num_fg = yolox_loss(self.net(self.x), [(torch.zeros(0, dtype=torch.long), torch.zeros(0, 4))], 3)
        self.assertEqual((parts["iou"], parts["cls"], num_fg), (0.0, 0.0, 1))
        self.assertGreater(parts["obj"], 0)


def export_unavailable():
    if torch is None:
        return "torch is missing (sudo scripts/install-test-deps.sh)"
    try:
        import onnx  # noqa: F401
    except ImportError:
        return "onnx is missing (sudo scripts/install-test-deps.sh)"
    if shutil.which("node") is None or not os.path.isdir(os.path.join(REPO, "node_modules", "onnxruntime-node")):
        return "node with the project's onnxruntime-node (npm ci) is needed to run the export"
    return None


@unittest.skipIf(export_unavailable(), export_unavailable() or "")
class Export(unittest.TestCase):
    def test_the_graph_outputs_yolov8_layout_decoded_boxes_and_score_products(self):
        from detector.export_detector import export
        from detector.test_yolox_parity import run_onnx
        from detector.yolox_nano import YoloxNano, decode_boxes, flatten_levels, grids
        torch.manual_seed(1)
        net = YoloxNano(3).eval()
        x = np.random.default_rng(2).uniform(0, 255, (1, 3, 64, 64)).astype(np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "det.onnx")
            manifest = export(net, 64, path, ["a", "b", "c"], "t", "0.0.1", 0.3, 0.45)
            out = run_onnx(path, x)
            with open(os.path.join(tmp, "det.json")) as f:
                self.assertEqual(json.load(f), manifest)
        # 64 px: 8x8 + 4x4 + 2x2 anchors; rows cx, cy, w, h, then the three classes.
        self.assertEqual(out.shape, (1, 7, 84))
        with torch.no_grad():
            maps = net(torch.from_numpy(x))
            flat = flatten_levels(maps)
            gx, gy, st = grids([m.shape[2:] for m in maps])
            boxes = decode_boxes(flat, gx, gy, st)[0].numpy()
            scores = (flat[0, :, 4:5].sigmoid() * flat[0, :, 5:].sigmoid()).numpy()
        np.testing.assert_allclose(out[0, :4].T, boxes, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(out[0, 4:].T, scores, atol=1e-5)
        self.assertEqual(manifest["kind"], "detector")
        self.assertEqual(manifest["output"], {"format": "yolov8"})
        self.assertEqual((manifest["input"]["color"], manifest["input"]["resize"]), ("BGR", "letterbox"))
        # The runtime feeds (byte/255 - mean)/std: with these, the byte itself, as YOLOX trained.
        self.assertAlmostEqual((200 / 255 - manifest["input"]["mean"][0]) / manifest["input"]["std"][0], 200)

    def test_a_side_that_is_not_a_multiple_of_32_is_refused(self):
        from detector.export_detector import export
        from detector.yolox_nano import YoloxNano
        with self.assertRaisesRegex(ValueError, "multiple of 32"):
            export(YoloxNano(1), 300, "/tmp/never.onnx", ["a"], "t", "1", 0.3, 0.45)


if __name__ == "__main__":
    unittest.main()
