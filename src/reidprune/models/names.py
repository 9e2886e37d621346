"""Backbone names and how much each downsamples, without importing torch (the command line's
``--help`` and the input-size check read them; :data:`reidprune.models.backbones.BACKBONES` builds
the same names, which a test ties together)."""
from __future__ import annotations

# How many times each backbone halves its input before global pooling (ResNets with last stride
# 1: four); each side must be at least 2 ** halvings pixels or a pooling layer meets an empty map.
BACKBONE_HALVINGS = {"small": 3, "mobilenetv2": 5, "resnet18": 4, "resnet34": 4, "resnet50": 4, "resnet101": 4}
BACKBONE_NAMES = tuple(BACKBONE_HALVINGS)
