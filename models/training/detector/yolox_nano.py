"""YOLOX-Nano (Ge et al. 2021) rebuilt in plain PyTorch, layer for layer as Megvii's reference.

CSPDarknet backbone with depthwise convolutions (width 0.25, depth 0.33, Focus stem), PAFPN neck and a
decoupled head, SiLU everywhere. Batch norm is left out on purpose: the pretrained ONNX file has it
folded into the convolutions' weights and biases, so every conv here carries a bias and nothing else;
fine-tuning with tiny batches on a CPU is better off without batch statistics anyway.

The modules run in the same order as the reference's forward(), so their convolutions line up one to one
with the Conv nodes of the exported ONNX graph (onnx_weights.py relies on that).
"""
from __future__ import annotations

import torch
from torch import nn

WIDTH = 0.25
DEPTH = 0.33
STRIDES = (8, 16, 32)
COCO_CLASSES = 80


class BaseConv(nn.Module):
    """Conv (BN folded into its bias) + SiLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=True)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.conv(x))


class DWConv(nn.Module):
    """Depthwise k x k then pointwise 1 x 1, each with SiLU: YOLOX's depthwise replacement for a 3x3 conv."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1):
        super().__init__()
        self.dconv = BaseConv(cin, cin, k, stride, groups=cin)
        self.pconv = BaseConv(cin, cout, 1)

    def forward(self, x):
        return self.pconv(self.dconv(x))


class Bottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, shortcut: bool):
        super().__init__()
        self.conv1 = BaseConv(cin, cout, 1)
        self.conv2 = DWConv(cout, cout, 3)
        self.use_add = shortcut and cin == cout

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        return y + x if self.use_add else y


class CSPLayer(nn.Module):
    def __init__(self, cin: int, cout: int, n: int, shortcut: bool = True):
        super().__init__()
        hidden = cout // 2
        self.conv1 = BaseConv(cin, hidden, 1)
        self.conv2 = BaseConv(cin, hidden, 1)
        self.conv3 = BaseConv(2 * hidden, cout, 1)
        self.m = nn.Sequential(*[Bottleneck(hidden, hidden, shortcut) for _ in range(n)])

    def forward(self, x):
        x1 = self.conv1(x)
        x2 = self.conv2(x)
        return self.conv3(torch.cat((self.m(x1), x2), 1))


class SPPBottleneck(nn.Module):
    def __init__(self, cin: int, cout: int, kernels=(5, 9, 13)):
        super().__init__()
        hidden = cin // 2
        self.conv1 = BaseConv(cin, hidden, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)
        self.conv2 = BaseConv(hidden * (len(kernels) + 1), cout, 1)

    def forward(self, x):
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [m(x) for m in self.m], 1))


class Focus(nn.Module):
    """Space-to-depth (2x2 pixels into channels), then a 3x3 conv."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = BaseConv(cin * 4, cout, 3)

    def forward(self, x):
        tl = x[..., ::2, ::2]
        tr = x[..., ::2, 1::2]
        bl = x[..., 1::2, ::2]
        br = x[..., 1::2, 1::2]
        return self.conv(torch.cat((tl, bl, tr, br), 1))


def _channels(c: int) -> int:
    return int(c * WIDTH)


def _depth(n: int) -> int:
    return max(round(n * DEPTH), 1)


class CSPDarknet(nn.Module):
    def __init__(self):
        super().__init__()
        c, d = _channels(64), _depth(3)
        self.stem = Focus(3, c)
        self.dark2 = nn.Sequential(DWConv(c, c * 2, 3, 2), CSPLayer(c * 2, c * 2, d))
        self.dark3 = nn.Sequential(DWConv(c * 2, c * 4, 3, 2), CSPLayer(c * 4, c * 4, d * 3))
        self.dark4 = nn.Sequential(DWConv(c * 4, c * 8, 3, 2), CSPLayer(c * 8, c * 8, d * 3))
        self.dark5 = nn.Sequential(DWConv(c * 8, c * 16, 3, 2), SPPBottleneck(c * 16, c * 16),
                                   CSPLayer(c * 16, c * 16, d, shortcut=False))

    def forward(self, x):
        x = self.dark2(self.stem(x))
        c3 = self.dark3(x)
        c4 = self.dark4(c3)
        c5 = self.dark5(c4)
        return c3, c4, c5


class PAFPN(nn.Module):
    def __init__(self):
        super().__init__()
        c3, c4, c5 = _channels(256), _channels(512), _channels(1024)
        n = _depth(3)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.lateral_conv0 = BaseConv(c5, c4, 1)
        self.C3_p4 = CSPLayer(2 * c4, c4, n, False)
        self.reduce_conv1 = BaseConv(c4, c3, 1)
        self.C3_p3 = CSPLayer(2 * c3, c3, n, False)
        self.bu_conv2 = DWConv(c3, c3, 3, 2)
        self.C3_n3 = CSPLayer(2 * c3, c4, n, False)
        self.bu_conv1 = DWConv(c4, c4, 3, 2)
        self.C3_n4 = CSPLayer(2 * c4, c5, n, False)

    def forward(self, feats):
        x2, x1, x0 = feats
        fpn_out0 = self.lateral_conv0(x0)
        f_out0 = self.C3_p4(torch.cat((self.up(fpn_out0), x1), 1))
        fpn_out1 = self.reduce_conv1(f_out0)
        pan_out2 = self.C3_p3(torch.cat((self.up(fpn_out1), x2), 1))
        pan_out1 = self.C3_n3(torch.cat((self.bu_conv2(pan_out2), fpn_out1), 1))
        pan_out0 = self.C3_n4(torch.cat((self.bu_conv1(pan_out1), fpn_out0), 1))
        return pan_out2, pan_out1, pan_out0


class DecoupledHead(nn.Module):
    """Per level: 1x1 stem, two 3x3 convs to class logits, two 3x3 convs to box (4) and objectness (1)."""

    def __init__(self, num_classes: int):
        super().__init__()
        hidden = _channels(256)
        self.num_classes = num_classes
        self.stems = nn.ModuleList()
        self.cls_convs = nn.ModuleList()
        self.reg_convs = nn.ModuleList()
        self.cls_preds = nn.ModuleList()
        self.reg_preds = nn.ModuleList()
        self.obj_preds = nn.ModuleList()
        for cin in (_channels(256), _channels(512), _channels(1024)):
            self.stems.append(BaseConv(cin, hidden, 1))
            self.cls_convs.append(nn.Sequential(DWConv(hidden, hidden, 3), DWConv(hidden, hidden, 3)))
            self.reg_convs.append(nn.Sequential(DWConv(hidden, hidden, 3), DWConv(hidden, hidden, 3)))
            self.cls_preds.append(nn.Conv2d(hidden, num_classes, 1))
            self.reg_preds.append(nn.Conv2d(hidden, 4, 1))
            self.obj_preds.append(nn.Conv2d(hidden, 1, 1))

    def forward(self, feats):
        """Raw maps per level, [N, 4 + 1 + classes, H, W]: box offsets, objectness logit, class logits."""
        out = []
        for k, x in enumerate(feats):
            x = self.stems[k](x)
            cls_logit = self.cls_preds[k](self.cls_convs[k](x))
            reg_feat = self.reg_convs[k](x)
            out.append(torch.cat((self.reg_preds[k](reg_feat), self.obj_preds[k](reg_feat), cls_logit), 1))
        return out


class YoloxNano(nn.Module):
    def __init__(self, num_classes: int = COCO_CLASSES):
        super().__init__()
        self.backbone = CSPDarknet()
        self.neck = PAFPN()
        self.head = DecoupledHead(num_classes)

    def forward(self, x):
        """BGR 0..255 NCHW → raw head maps per level (see DecoupledHead.forward)."""
        return self.head(self.neck(self.backbone(x)))


def flatten_levels(maps):
    """Per-level maps → [N, anchors, 5 + C], anchors row-major per level, levels stride 8, 16, 32."""
    return torch.cat([m.flatten(2) for m in maps], 2).permute(0, 2, 1)


def grids(sizes, device=None):
    """For levels of (h, w): anchor cell x, y and stride, each [anchors], in flatten_levels' order."""
    xs, ys, ss = [], [], []
    for (h, w), s in zip(sizes, STRIDES):
        gy, gx = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        xs.append(gx.reshape(-1))
        ys.append(gy.reshape(-1))
        ss.append(torch.full((h * w,), float(s), device=device))
    return torch.cat(xs).float(), torch.cat(ys).float(), torch.cat(ss)


def onnx_layout(maps):
    """What the pretrained ONNX file outputs: [N, anchors, 85], raw box, sigmoid objectness and classes."""
    flat = flatten_levels(maps)
    return torch.cat((flat[..., :4], flat[..., 4:].sigmoid()), -1)


def decode_boxes(flat, gx, gy, stride):
    """Raw box offsets [N, A, 4] → cx, cy, w, h in input pixels."""
    cx = (flat[..., 0] + gx) * stride
    cy = (flat[..., 1] + gy) * stride
    w = flat[..., 2].exp() * stride
    h = flat[..., 3].exp() * stride
    return torch.stack((cx, cy, w, h), -1)
