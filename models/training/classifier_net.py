"""The vegetable classifier: MobileNetV2 features, global average pooling, and a cosine head.

Cosine head: the pooled 1280-d feature is L2-normalised (the `embedding` output) and so is each class's
weight vector; logit_k = scale * cos(embedding, w_k). Embeddings and class weights therefore live in one
space, and a kiosk adds a class it learns on site by appending the normalised mean embedding of its
example photos as one more weight row (weight imprinting, Qi et al. 2018): its logits come out on the
same scale as the trained classes', so one softmax over both keeps the score threshold's meaning.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mobilenet_v2 import FEATURE_DIM, MobileNetV2Features


class CosineHead(nn.Module):
    def __init__(self, classes: int, dim: int = FEATURE_DIM, scale: float = 16.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, dim) * 0.01)
        self.log_scale = nn.Parameter(torch.tensor(float(scale)).log())

    def normalised_weights(self) -> torch.Tensor:
        return F.normalize(self.weight, dim=1)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.log_scale.exp() * embedding @ self.normalised_weights().t()


class VegetableClassifier(nn.Module):
    """The pooled features are centred before they are normalised: MobileNetV2's pooled features are
    non-negative (ReLU6), so uncentred, any two embeddings have a high cosine and a prototype imprinted
    from five photos of anything scores high against every photo (taught fruit took 72 of 85 vegetable
    val photos). `center` is a running mean of the pooled training features (like batch norm's), frozen
    into the exported graph, so the model's own class weights and a kiosk's imprinted prototypes live in
    one centred space (as in SimpleShot, Wang et al. 2019)."""

    def __init__(self, features: MobileNetV2Features, classes: int, dropout: float = 0.2, center_momentum: float = 0.05):
        super().__init__()
        self.features = features
        self.head = CosineHead(classes)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("center", torch.zeros(FEATURE_DIM))
        self.register_buffer("center_seen", torch.zeros(()))
        self.center_momentum = center_momentum

    def embed(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        pooled = self.features(x, start).mean((2, 3))
        if self.training:
            with torch.no_grad():
                m = 1.0 if self.center_seen.item() == 0 else self.center_momentum
                self.center.mul_(1 - m).add_(m * pooled.mean(0))
                self.center_seen.add_(1)
        return F.normalize(self.dropout(pooled) - self.center, dim=1)

    def forward(self, x: torch.Tensor, start: int = 0):
        e = self.embed(x, start)
        return self.head(e), e


class ExportedClassifier(nn.Module):
    """What the ONNX file computes: logits (calibrated: the head's scale divided by the fitted
    temperature), the embedding, and the normalised class weights (a constant, for weight imprinting)."""

    def __init__(self, model: VegetableClassifier, temperature: float):
        super().__init__()
        self.features = model.features
        weights = model.head.normalised_weights().detach()
        self.register_buffer("class_weights", weights)
        self.register_buffer("center", model.center.detach().clone())
        self.scale = float(model.head.log_scale.exp().item() / temperature)

    def forward(self, x):
        e = F.normalize(self.features(x).mean((2, 3)) - self.center, dim=1)
        return self.scale * e @ self.class_weights.t(), e, self.class_weights
