"""Atomic checkpoints, read back with ``torch.load(weights_only=True)``."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from reidprune.atomic import atomic_path
from reidprune.errors import ReidPruneError


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict | None:
    """The saved state, or None when there is no checkpoint yet."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged file is reported, never executed
        raise ReidPruneError(f"checkpoint {path} cannot be read ({exc}); delete it to start over") from exc
