"""Tests of the int8 quantiser's rules (quantize_classifier.py) on synthetic tensors: no photos, no
onnxruntime; the graph case needs python3-onnx and skips itself without it.

Run: cd models/training && /usr/bin/python3 -m unittest -v test_quantize_classifier   (npm test runs it)
"""
from __future__ import annotations

import unittest

import numpy as np

import quantize_classifier as Q
from test_samples import COARSE, FINE, grocery_rows

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover - depends on the machine
    onnx = None


class ActivationRanges(unittest.TestCase):
    def test_a_relu6_output_has_zero_point_0_and_a_range_inside_0_6(self):
        # onnxruntime drops the Clip only when the QuantizeLinear's range lies inside [0, 6].
        for hi in (6.0, 7.5, 5.9999995, 3.1):
            scale, zp = Q.activation_qparams(-0.2, hi, relu6=True)
            self.assertEqual(int(zp), 0)
            self.assertLessEqual(float(np.float32(scale * np.float32(255))), 6.0)

    def test_a_linear_range_includes_zero_exactly(self):
        scale, zp = Q.activation_qparams(-30.0, 20.0, relu6=False)
        self.assertAlmostEqual(float(scale) * 255, 50.0, places=4)
        self.assertEqual(int(zp), 153)
        scale, zp = Q.activation_qparams(2.0, 5.0, relu6=False)
        self.assertEqual(int(zp), 0)


class Weights(unittest.TestCase):
    def test_weights_on_a_uint8_grid_keep_it_exactly(self):
        rng = np.random.default_rng(0)
        step = 0.0123
        # Dequantised uint8 (zero point 131), every channel within 127 steps of zero.
        w = (step * np.clip(rng.integers(0, 256, size=(8, 4, 3, 3)) - 131, -127, 127)).astype(np.float32)
        q, scale = Q.weight_qparams(w)
        np.testing.assert_allclose(scale, np.float32(step), rtol=1e-4)
        # No second rounding: off by float32 noise in the step, far below the half step re-rounding costs.
        np.testing.assert_allclose(q * scale.reshape(-1, 1, 1, 1), w, rtol=0, atol=0.01 * step)

    def test_a_channel_beyond_127_steps_or_off_grid_gets_its_own_symmetric_scale(self):
        w = np.random.default_rng(1).normal(size=(4, 16)).astype(np.float32)
        q, scale = Q.weight_qparams(w)
        np.testing.assert_allclose(scale, np.abs(w).max(axis=1) / 127, rtol=1e-6)
        self.assertEqual(q.dtype, np.int8)
        self.assertEqual(int(np.abs(q).max()), 127)
        self.assertLessEqual(float(np.abs(q * scale[:, None] - w).max()), float(scale.max()) / 2 + 1e-7)

    def test_the_bias_scale_is_input_scale_times_weight_scale(self):
        qb, bs = Q.bias_qparams(np.array([0.5, -1.0], np.float32), np.float32(0.02), np.array([0.01, 0.001], np.float32))
        np.testing.assert_allclose(bs, [0.0002, 0.00002], rtol=1e-6)
        np.testing.assert_array_equal(qb, [2500, -50000])
        self.assertEqual(qb.dtype, np.int32)


class CalibrationPhotos(unittest.TestCase):
    def test_only_train_photos_of_vegetable_classes_never_a_held_back_one(self):
        photos = Q.calibration_photos(grocery_rows("train"), COARSE, FINE, 10)
        self.assertTrue(photos)
        self.assertTrue(all("/train/" in p for p in photos))
        for held in ("Avocado", "Banana", "Kiwi", "Lemon", "Pomegranate", "Apple", "Milk"):
            self.assertFalse(any(f"/{held}/" in p for p in photos), held)


@unittest.skipIf(onnx is None, "needs python3-onnx")
class Graph(unittest.TestCase):
    def test_a_conv_relu6_graph_becomes_qdq_with_its_output_name_and_float_type_kept(self):
        w = numpy_helper.from_array(np.random.default_rng(2).normal(size=(4, 3, 1, 1)).astype(np.float32), "w")
        b = numpy_helper.from_array(np.zeros(4, np.float32), "b")
        lo = numpy_helper.from_array(np.array(0, np.float32), "lo")
        hi = numpy_helper.from_array(np.array(6, np.float32), "hi")
        g = helper.make_graph(
            [helper.make_node("Conv", ["x", "w", "b"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Clip", ["r", "lo", "hi"], ["a"]), helper.make_node("ReduceMean", ["a"], ["out"], axes=[2, 3])],
            "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])],
            [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 4, 1, 1])], [w, b, lo, hi])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        self.assertEqual(Q.drop_relu_before_relu6(m.graph), 1)
        relu6 = Q.activation_tensors(m.graph)
        self.assertEqual(relu6, {"a": True})
        Q.quantize(m, {"x": (-1.0, 1.0), "a": (0.0, 5.0)}, relu6)
        ops = [n.op_type for n in m.graph.node]
        self.assertEqual(ops.count("QuantizeLinear"), 2)
        self.assertEqual(ops.count("DequantizeLinear"), 4)  # x, a, the weight, the bias
        self.assertEqual([o.name for o in m.graph.output], ["out"])
        self.assertEqual(m.graph.output[0].type.tensor_type.elem_type, TensorProto.FLOAT)
        inits = {i.name: i for i in m.graph.initializer}
        self.assertEqual(inits["w_quantized"].data_type, TensorProto.INT8)
        self.assertEqual(inits["b_quantized"].data_type, TensorProto.INT32)
        self.assertNotIn("w", inits)


if __name__ == "__main__":
    unittest.main()
