"""Loads YOLOX-Nano weights from the exported ONNX file (BN already folded into each Conv's initializers).

The ONNX graph has no parameter names we could trust, so the mapping is positional: the n-th Conv node
(in graph order, which is the exporter's execution order) feeds the n-th nn.Conv2d that runs in
YoloxNano.forward. Every shape is checked, so a mismatch in order fails loudly instead of loading garbage.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def conv_initializers(onnx_path: str):
    """[(weight, bias)] as numpy arrays, one per Conv node in graph order."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        weight = inits[node.input[1]]
        bias = inits[node.input[2]] if len(node.input) > 2 else np.zeros(weight.shape[0], np.float32)
        convs.append((weight, bias))
    return convs


def convs_in_run_order(model: nn.Module, input_size: int = 64):
    """The model's Conv2d modules in the order forward() calls them (traced once with hooks)."""
    order = []
    hooks = [m.register_forward_hook(lambda mod, *_: order.append(mod))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size))
    finally:
        for h in hooks:
            h.remove()
    return order


def load_onnx_weights(model: nn.Module, onnx_path: str, skip_class_preds: bool = False) -> int:
    """Copies every conv's weights; with skip_class_preds the class-logit convs (other classes) keep theirs.

    Returns how many convs were loaded.
    """
    sources = conv_initializers(onnx_path)
    targets = convs_in_run_order(model)
    if len(sources) != len(targets):
        raise ValueError(f"{onnx_path} has {len(sources)} Conv nodes, the rebuilt network {len(targets)}")
    class_preds = {id(m) for m in getattr(model.head, "cls_preds", [])} if skip_class_preds else set()
    loaded = 0
    for n, ((weight, bias), conv) in enumerate(zip(sources, targets)):
        if id(conv) in class_preds:
            continue
        if tuple(weight.shape) != tuple(conv.weight.shape):
            raise ValueError(f"Conv #{n}: ONNX weight {weight.shape} vs rebuilt {tuple(conv.weight.shape)}")
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(weight.copy()))
            conv.bias.copy_(torch.from_numpy(bias.copy()))
        loaded += 1
    return loaded


def coco_class_logits(onnx_path: str):
    """The three levels' COCO class-logit convs [(weight [80, C, 1, 1], bias [80])], to seed new classes."""
    sources = conv_initializers(onnx_path)
    return [(w, b) for (w, b) in sources if w.shape[0] == 80 and w.shape[2:] == (1, 1)]
