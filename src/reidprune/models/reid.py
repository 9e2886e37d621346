"""The BNNeck ReID baseline (Luo et al. 2019): backbone -> GAP -> feature -> BN -> classifier."""
from __future__ import annotations

import os
from typing import NamedTuple

import torch
from torch import nn

from reidprune.errors import ReidPruneError
from reidprune.models.backbones import build_backbone
from reidprune.models.weights import WeightsInfo, load_into, resolve_weights


class ReIDOutput(NamedTuple):
    logits: torch.Tensor  # B x C, classifier output on the BNNeck feature
    features: torch.Tensor  # B x D, pooled feature before BN (triplet loss)
    embeddings: torch.Tensor  # B x D, BNNeck output (test feature, cosine distance)


class ReIDNet(nn.Module):
    """Backbone + global average pooling + BNNeck + bias-free linear classifier.

    ``forward`` returns :class:`ReIDOutput`; its first element is the logits, so code that
    expects a plain classifier (``out[0]``) works too.
    """

    weights_info: WeightsInfo | None = None

    def __init__(self, backbone: str, num_classes: int):
        super().__init__()
        if num_classes < 2:
            raise ReidPruneError(f"need at least 2 identities to train, got {num_classes}")
        self.backbone_name = backbone
        self.backbone = build_backbone(backbone)
        dim = self.backbone.out_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.neck = nn.BatchNorm1d(dim)
        self.neck.bias.requires_grad_(False)  # BNNeck: no shift before the classifier
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.constant_(self.neck.weight, 1.0)
        nn.init.constant_(self.neck.bias, 0.0)

    def forward(self, images: torch.Tensor) -> ReIDOutput:
        features = self.pool(self.backbone(images)).flatten(1)
        embeddings = self.neck(features)
        return ReIDOutput(self.classifier(embeddings), features, embeddings)


def build_model(backbone: str, num_classes: int, weights: str | os.PathLike | None = None,
                pretrained: bool = False) -> ReIDNet:
    """Build a ReID model; its backbone starts from the weights :func:`resolve_weights` finds.

    ``weights`` is a local state-dict file (torchvision / timm, or a whole reidprune model);
    ``pretrained`` looks for ImageNet weights when no file is given. ``model.weights_info``
    says which weights were used (record it; print it).
    """
    state, info = resolve_weights(backbone, weights, pretrained)
    model = ReIDNet(backbone, num_classes)
    if state is not None:
        load_into(model.backbone, state)
    model.weights_info = info
    return model
