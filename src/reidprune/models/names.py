"""Backbone names and how much each downsamples, without importing torch (the command line's
``--help`` and the input-size check read them; :data:`reidprune.models.backbones.BACKBONES` builds
the same names, which a test ties together)."""
from __future__ import annotations

from reidprune.errors import ReidPruneError

# How many times each backbone halves its input before global pooling (ResNets with last stride
# 1: four); each side must be at least 2 ** halvings pixels or a pooling layer meets an empty map.
BACKBONE_HALVINGS = {"small": 3, "mobilenetv2": 5, "resnet18": 4, "resnet34": 4, "resnet50": 4, "resnet101": 4}
BACKBONE_NAMES = tuple(BACKBONE_HALVINGS)

#: unknown backbones get the largest downsampling of torchvision's classifiers (32)
DEFAULT_HALVINGS = 5


def check_input_size(backbone: str, height: int, width: int) -> None:
    """``--size`` must survive the backbone's downsampling."""
    halvings = BACKBONE_HALVINGS.get(backbone, DEFAULT_HALVINGS)
    smallest = 2 ** halvings
    if height < smallest or width < smallest:
        raise ReidPruneError(
            f"--size {height}x{width} is too small for backbone {backbone}: it halves the image {halvings} "
            f"times, so each side needs at least {smallest} pixels; use e.g. 64x32 (small preset), 128x64 (cpu) or 256x128")
