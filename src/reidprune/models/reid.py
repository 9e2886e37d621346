"""The BNNeck ReID baseline (Luo et al. 2019): backbone -> GAP -> feature -> BN -> classifier."""
from __future__ import annotations

import os
from typing import NamedTuple

import torch
from torch import nn

from reidprune.errors import ReidPruneError
from reidprune.models.backbones import build_backbone


class ReIDOutput(NamedTuple):
    logits: torch.Tensor  # B x C, classifier output on the BNNeck feature
    features: torch.Tensor  # B x D, pooled feature before BN (triplet loss)
    embeddings: torch.Tensor  # B x D, BNNeck output (test feature, cosine distance)


class ReIDNet(nn.Module):
    """Backbone + global average pooling + BNNeck + bias-free linear classifier.

    ``forward`` returns :class:`ReIDOutput`; its first element is the logits, so code that
    expects a plain classifier (``out[0]``) works too.
    """

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


def build_model(backbone: str, num_classes: int, weights: str | os.PathLike | None = None) -> ReIDNet:
    """Build a ReID model; ``weights`` is an optional local state-dict file for the backbone.

    The file may hold a torchvision/timm ResNet state dict (``fc.*`` keys are ignored) or a
    whole reidprune model's state dict. It is read with ``torch.load(weights_only=True)``.
    """
    model = ReIDNet(backbone, num_classes)
    if weights is not None:
        load_backbone_weights(model, weights)
    return model


def load_backbone_weights(model: ReIDNet, path: str | os.PathLike) -> None:
    if not os.path.isfile(path):
        raise ReidPruneError(f"weight file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        # never relay torch's advice to retry with weights_only=False: that would execute the file
        raise ReidPruneError(f"--weights {path} is not a weight file reidprune can read safely "
                             f"({type(exc).__name__}); pass a PyTorch state dict (.pt/.pth) of a torchvision "
                             "ResNet or a reidprune model.pt") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ReidPruneError(f"weight file {path} does not hold a state dict")
    if any(k.startswith("backbone.") for k in state):  # a whole reidprune model
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    target = model.backbone.body if isinstance(model.backbone.body, nn.Sequential) else model.backbone
    mapped = _map_resnet_keys(state) if model.backbone_name.startswith("resnet") else state
    if not set(mapped) & set(target.state_dict()):
        raise wrong_architecture(path, model.backbone_name, state)
    try:
        missing, _ = target.load_state_dict(mapped, strict=False)
    except RuntimeError:  # shape mismatch: torch lists every tensor; one line is enough
        raise wrong_architecture(path, model.backbone_name, state) from None
    if missing:
        raise ReidPruneError(
            f"weight file {path} lacks {len(missing)} backbone parameters (first: {missing[0]})")


def wrong_architecture(path, backbone: str, state: dict) -> ReidPruneError:
    """One line saying which architecture the weight file looks like it is for."""
    from reidprune.models.identify import guess_architecture

    guess = guess_architecture(state)
    if guess is None or guess == backbone:
        return ReidPruneError(f"--weights {path} does not fit backbone {backbone} (unknown architecture); pass "
                              "weights of the chosen --backbone")
    return ReidPruneError(f"--weights {path} looks like weights for {guess}, not backbone {backbone}; pass "
                          f"--backbone {guess} or weights for {backbone}")


_RESNET_ORDER = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]


def _map_resnet_keys(state: dict) -> dict:
    """torchvision ResNet keys (``layer1.0.conv1.weight``) -> our Sequential's (``4.0.conv1.weight``)."""
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in _RESNET_ORDER:
            out[f"{_RESNET_ORDER.index(head)}.{rest}"] = value
        elif head.isdigit():
            out[key] = value
    return out
