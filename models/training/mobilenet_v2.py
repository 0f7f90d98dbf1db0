"""MobileNetV2 (Sandler et al. 2018) in PyTorch, loaded from Google's ImageNet TFLite file dequantised
to float, with TensorFlow's SAME padding reproduced exactly.

The TFLite graph has batch norm folded into each convolution (so the layers here are biased convs, no
BatchNorm) and its activation (ReLU6 or none) fused. Its stride-2 convolutions on even sizes pad one
row/column at the bottom/right only; PyTorch's symmetric padding=1 would shift every feature map by
half a pixel, which the ImageNet test in test_mobilenet_v2.py catches.

Input: NCHW float RGB in [-1, 1] (uint8 x / 127.5 - 1, the file's input quantisation).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import tflite_reader as tfl

# (expansion t, output channels c, repeats n, first stride s), the paper's Table 2
BLOCK_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
FEATURE_DIM = 1280


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME: output ceil(size / stride); the odd pixel of padding goes after, not before."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Module):
    """A biased convolution with TF SAME padding and an optional fused ReLU6."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int = 1, relu6: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=True)
        self.relu6 = relu6
        self.symmetric_padding = False  # set True only to show what PyTorch's usual padding gets wrong

    def forward(self, x):
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        # int(): the model's input size is fixed, so an exported graph gets constant pads, not shape ops
        top, bottom = same_padding(int(x.shape[-2]), k, s)
        left, right = same_padding(int(x.shape[-1]), k, s)
        if self.symmetric_padding or (top == bottom and left == right):
            p = (k - 1) // 2 if self.symmetric_padding else top
            x = F.conv2d(x, self.conv.weight, self.conv.bias, s, (p, p if self.symmetric_padding else left),
                         groups=self.conv.groups)
        else:
            x = self.conv(F.pad(x, (left, right, top, bottom)))
        return F.relu6(x) if self.relu6 else x


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        layers = [SameConv(cin, hidden, 1, 1)] if expansion != 1 else []
        layers += [SameConv(hidden, hidden, 3, stride, groups=hidden), SameConv(hidden, cout, 1, 1, relu6=False)]
        self.layers = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.residual else y


class MobileNetV2Features(nn.Module):
    """Stem, the 17 inverted-residual blocks and the 1x1 conv to 1280 channels (no pooling, no head).
    `stages` is one flat list so a recipe can freeze or cache everything before a given index."""

    def __init__(self):
        super().__init__()
        stages: list[nn.Module] = [SameConv(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in BLOCK_SETTINGS:
            for i in range(n):
                stages.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        stages.append(SameConv(cin, FEATURE_DIM, 1, 1))
        self.stages = nn.ModuleList(stages)

    def forward(self, x, start: int = 0, stop: int | None = None):
        for stage in self.stages[start:stop]:
            x = stage(x)
        return x

    def convs(self) -> list[SameConv]:
        return [m for m in self.modules() if isinstance(m, SameConv)]


class ImageNetMobileNetV2(nn.Module):
    """The whole ImageNet classifier (1001 logits, index 0 'background'), for checking the conversion."""

    def __init__(self):
        super().__init__()
        self.features = MobileNetV2Features()
        self.logits = nn.Conv2d(FEATURE_DIM, 1001, 1)

    def forward(self, x):
        x = self.features(x).mean((2, 3), keepdim=True)
        return self.logits(x).flatten(1)


def _as_torch_weight(op: tfl.TfliteOperator, model: tfl.TfliteModel) -> tuple[torch.Tensor, torch.Tensor]:
    w = model.tensors[op.inputs[1]].dequantised()
    b = model.tensors[op.inputs[2]].dequantised()
    if op.opcode == tfl.CONV_2D:
        w = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
    else:
        w = w.transpose(3, 0, 1, 2)  # 1HWC -> C1HW
    return torch.from_numpy(w.copy()), torch.from_numpy(b.copy())


def load_imagenet_mobilenet_v2(path: str) -> ImageNetMobileNetV2:
    """Builds the network and copies the file's convolutions into it in execution order, checking each
    one's shape, stride, padding mode and activation against the architecture."""
    model = tfl.read_tflite(path)
    net = ImageNetMobileNetV2()
    conv_ops = [op for op in model.operators if op.opcode in (tfl.CONV_2D, tfl.DEPTHWISE_CONV_2D)]
    targets = net.features.convs()
    if len(conv_ops) != len(targets) + 1:
        raise ValueError(f"{path}: {len(conv_ops)} convolutions, expected {len(targets) + 1} for MobileNetV2 1.0")
    adds = sum(op.opcode == tfl.ADD for op in model.operators)
    if adds != sum(isinstance(m, InvertedResidual) and m.residual for m in net.modules()):
        raise ValueError(f"{path}: {adds} residual additions do not match MobileNetV2 1.0")
    for op, conv in zip(conv_ops[:-1], targets):
        w, b = _as_torch_weight(op, model)
        if tuple(w.shape) != tuple(conv.conv.weight.shape) or op.stride != conv.conv.stride:
            raise ValueError(f"{path}: layer {model.tensors[op.inputs[1]].name} is {tuple(w.shape)} stride "
                             f"{op.stride}, expected {tuple(conv.conv.weight.shape)} stride {conv.conv.stride}")
        if op.padding != tfl.PAD_SAME or (op.activation == tfl.ACT_RELU6) != conv.relu6:
            raise ValueError(f"{path}: layer {model.tensors[op.inputs[1]].name} padding/activation differ")
        conv.conv.weight.data.copy_(w)
        conv.conv.bias.data.copy_(b)
    w, b = _as_torch_weight(conv_ops[-1], model)
    net.logits.weight.data.copy_(w)
    net.logits.bias.data.copy_(b)
    return net.eval()
