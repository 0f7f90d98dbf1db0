"""A compact ResNet-style classifier for 96-px RGB crops, built from ONNX-friendly ops only
(Conv, BatchNormalization -> folded into Conv at export, Relu, Add, GlobalAveragePool, Gemm)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k=3, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = conv_bn(cin, cout, 3, stride)
        self.c2 = conv_bn(cout, cout, 3, 1)
        self.short = None if (stride == 1 and cin == cout) else conv_bn(cin, cout, 1, stride)

    def forward(self, x):
        y = self.c2(F.relu(self.c1(x)))
        s = x if self.short is None else self.short(x)
        return F.relu(y + s)


class VegNet(nn.Module):
    def __init__(self, num_classes: int, widths=(32, 64, 128, 256), depths=(1, 2, 2, 1), stem=(24, 32), drop=0.2):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, stem[0], 3, 2), nn.ReLU(inplace=True),
                                  conv_bn(stem[0], stem[1], 3, 1), nn.ReLU(inplace=True))
        layers = []
        cin = stem[1]
        for w, d in zip(widths, depths):
            for i in range(d):
                layers.append(Block(cin, w, 2 if i == 0 else 1))
                cin = w
        self.features = nn.Sequential(*layers)
        self.dim = cin
        self.drop = nn.Dropout(drop)
        self.head = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # zero-init the last BN of each residual branch: every block starts as identity
        for m in self.modules():
            if isinstance(m, Block):
                nn.init.zeros_(m.c2[1].weight)

    def embed(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.features(self.stem(x)), 1), 1)

    def forward(self, x):
        return self.head(self.drop(self.embed(x)))

    def reset_head(self, num_classes: int):
        self.head = nn.Linear(self.dim, num_classes)


class ExportWrapper(nn.Module):
    """Outputs (logits [N,C], embedding [N,D]) for ONNX export from one network or an ensemble of them.

    Ensemble: the members see the same input; the logits are averaged, and the embedding is the
    concatenation of the members' L2-normalised embeddings divided by sqrt(K), so it is L2-normalised
    too (cosine similarity between two embeddings is then the mean of the members' cosines).
    With flip=True the graph also runs the mirrored image (one batch of 2N) and averages the features:
    a test-time flip that the runtime gets without knowing about it."""

    def __init__(self, nets, flip: bool = False, width: int = 0):
        super().__init__()
        self.nets = nn.ModuleList(nets if isinstance(nets, (list, tuple)) else [nets])
        self.flip = flip
        # the column order of a mirrored image, a constant in the graph (exports as one Gather)
        self.register_buffer("rev", torch.arange(width - 1, -1, -1), persistent=False)

    def _one(self, net, x):
        if self.flip:
            both = net.embed(torch.cat([x, x.index_select(3, self.rev)], 0))
            f = both.reshape(2, -1, both.shape[1]).mean(0)
        else:
            f = net.embed(x)
        return net.head(f), f / torch.sqrt(torch.sum(f * f, dim=1, keepdim=True) + 1e-12)

    def forward(self, x):
        outs = [self._one(net, x) for net in self.nets]
        if len(outs) == 1:
            return outs[0]
        logits = torch.stack([o[0] for o in outs], 0).mean(0)
        emb = torch.cat([o[1] for o in outs], 1) * (1.0 / len(outs)) ** 0.5
        return logits, emb


def count_macs(net: nn.Module, size: int) -> int:
    macs = 0

    def hook(m, i, o):
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            macs += o.numel() // o.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            macs += m.in_features * m.out_features

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    net.eval()
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    return macs
