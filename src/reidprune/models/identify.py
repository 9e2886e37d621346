"""Guess which architecture a state dict was saved from, for one-line weight-mismatch errors.

Only key names and tensor shapes are read, so this works on any ``torch.load`` result without
building a model.
"""
from __future__ import annotations

import re

# ResNet family by the number of blocks per stage and the block type (Bottleneck has conv3).
_RESNETS = {("basic", (2, 2, 2, 2)): "resnet18", ("basic", (3, 4, 6, 3)): "resnet34",
            ("bottleneck", (3, 4, 6, 3)): "resnet50", ("bottleneck", (3, 4, 23, 3)): "resnet101",
            ("bottleneck", (3, 8, 36, 3)): "resnet152"}
_PREFIXES = ("module.", "backbone.", "body.", "model.", "encoder.")


def strip_prefixes(key: str) -> str:
    """``key`` without wrapper prefixes (DataParallel ``module.``, reidprune ``backbone.body.``)."""
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def guess_architecture(state: dict) -> str | None:
    """The architecture name a state dict most likely belongs to, or None when unknown.

    Parameters
    ----------
    state:
        Parameter name -> tensor (anything with ``.shape``), as saved by ``model.state_dict()``,
        with or without ``module.`` / ``backbone.`` prefixes, torchvision names (``layer1.0...``)
        or reidprune's Sequential indices (``4.0...``).

    Returns
    -------
    str | None
        e.g. ``"resnet50"``, ``"resnet18"``, ``"small"`` (reidprune's small CNN),
        ``"mobilenet_v2"``, ``"vit"``, ``"densenet"``, or None.
    """
    keys = [strip_prefixes(str(k)) for k in state]
    if any(k.startswith("features.") and ".conv." in k for k in keys) or \
            any(re.match(r"features\.\d+\.conv\.\d+\.\d+\.weight", k) for k in keys):
        return "mobilenet_v2"
    if any("denseblock" in k for k in keys):
        return "densenet"
    if any(k.startswith(("blocks.", "encoder.layers", "cls_token", "pos_embed")) for k in keys) or \
            any(".attn." in k or "self_attention" in k for k in keys):
        return "vit"
    resnet = _guess_resnet(keys)
    if resnet:
        return resnet
    if _looks_like_small_cnn(state):
        return "small"
    return None


def _guess_resnet(keys: list[str]) -> str | None:
    # stage s is torchvision's layer{s} or reidprune's Sequential index s + 3
    blocks, bottleneck = [], False
    for stage in range(1, 5):
        pattern = re.compile(rf"(?:layer{stage}|{stage + 3})\.(\d+)\.conv(\d)\.weight$")
        found = [pattern.match(k) for k in keys]
        found = [m for m in found if m]
        if not found:
            return None
        blocks.append(1 + max(int(m.group(1)) for m in found))
        bottleneck |= any(m.group(2) == "3" for m in found)
    kind = "bottleneck" if bottleneck else "basic"
    return _RESNETS.get((kind, tuple(blocks)), f"a resnet ({kind} blocks {tuple(blocks)})")


def _looks_like_small_cnn(state: dict) -> bool:
    """reidprune's SmallCNN: four 3x3 convs 3-16-32-64-128 at Sequential indices 0, 4, 8, 12."""
    shapes = {strip_prefixes(str(k)): tuple(getattr(v, "shape", ())) for k, v in state.items()}
    return shapes.get("0.weight") == (16, 3, 3, 3) and shapes.get("12.weight") == (128, 64, 3, 3)
