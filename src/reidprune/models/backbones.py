"""Backbones built from a name: torchvision ResNets (last stride 1), MobileNetV2 and a small CPU CNN."""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn
from torchvision import models as tvm

from reidprune.errors import ReidPruneError


class SmallCNN(nn.Module):
    """Four conv blocks (16-32-64-128 channels), for quick CPU work at small input sizes."""

    out_channels = 128

    def __init__(self):
        super().__init__()
        widths = [3, 16, 32, 64, 128]
        layers: list[nn.Module] = []
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True)]
            if i < 3:  # keep the last block's spatial size for pooling
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ResNetTrunk(nn.Sequential):
    """A torchvision ResNet without its pooling and fc, last stage with stride 1 (ReID practice).

    The stages keep torchvision's names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``), so a
    torchvision or timm ResNet state dict loads as it is (its ``fc.*`` keys left out).
    """

    def __init__(self, resnet: nn.Module, last_stride: int = 1):
        layer4 = resnet.layer4
        strided = layer4[0].conv2 if hasattr(layer4[0], "conv3") else layer4[0].conv1  # Bottleneck / BasicBlock
        strided.stride = (last_stride, last_stride)
        if layer4[0].downsample is not None:
            layer4[0].downsample[0].stride = (last_stride, last_stride)
        names = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
        super().__init__(OrderedDict((name, getattr(resnet, name)) for name in names))
        last = layer4[-1]
        self.out_channels = (last.conv3 if hasattr(last, "conv3") else last.conv2).out_channels


class MobileNetV2Trunk(nn.Module):
    """torchvision's MobileNetV2 feature extractor (``features``, 1280 channels), no classifier.

    The module keeps torchvision's names (``features.0.0.weight`` ...), so torchvision's own
    ImageNet state dict loads as it is.
    """

    out_channels = 1280

    def __init__(self):
        super().__init__()
        self.features = tvm.mobilenet_v2(weights=None).features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _resnet(factory: Callable[..., nn.Module]) -> Callable[[], nn.Module]:
    return lambda: ResNetTrunk(factory(weights=None))


BACKBONES: dict[str, Callable[[], nn.Module]] = {
    "small": SmallCNN,
    "resnet18": _resnet(tvm.resnet18),
    "resnet34": _resnet(tvm.resnet34),
    "resnet50": _resnet(tvm.resnet50),
    "resnet101": _resnet(tvm.resnet101),
    "mobilenetv2": MobileNetV2Trunk,
}


def build_backbone(name: str) -> nn.Module:
    """A backbone with an ``out_channels`` attribute, randomly initialised (no downloads)."""
    if name not in BACKBONES:
        raise ReidPruneError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]()
