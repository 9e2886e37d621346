"""Reproducible scarce variants of a Market-1501-layout dataset, made of hard links (no copies).

``subsample(root, out, per_identity=4)`` keeps at most 4 training images of every identity,
taking them in turn from each camera (so 4 = two per camera on a two-camera set); with
``identities=40`` it keeps 40 training identities with all their images. Query and gallery
are linked unchanged. The same arguments always make the same folder; an existing folder made
with the same arguments is reused.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from reidprune.errors import ReidPruneError

_NAME = re.compile(r"([-\d]+)_c(\d)")
SPLITS = ("bounding_box_train", "query", "bounding_box_test")


def _train_files(root: Path) -> list[tuple[str, int, int]]:
    folder = root / "bounding_box_train"
    if not folder.is_dir():
        raise ReidPruneError(f"{root} has no bounding_box_train folder (Market-1501 layout expected)")
    rows = []
    for name in sorted(os.listdir(folder)):
        match = _NAME.search(name)
        if match and name.lower().endswith((".jpg", ".jpeg", ".png")):
            rows.append((name, int(match.group(1)), int(match.group(2))))
    return rows


def choose_training_files(rows: list[tuple[str, int, int]], per_identity: int | None, identities: int | None,
                          seed: int) -> list[str]:
    """File names kept: ``per_identity`` per identity, round-robin over cameras in a seeded order;
    or every file of ``identities`` seeded identities."""
    if (per_identity is None) == (identities is None):
        raise ReidPruneError("give exactly one of per_identity and identities")
    rng = np.random.default_rng(seed)
    by_id: dict[int, list[tuple[str, int]]] = {}
    for name, pid, cam in rows:
        by_id.setdefault(pid, []).append((name, cam))
    pids = sorted(by_id)
    if identities is not None:
        if not 2 <= identities <= len(pids):
            raise ReidPruneError(f"identities must lie in 2..{len(pids)}, got {identities}")
        chosen = set(rng.choice(pids, size=identities, replace=False).tolist())
        return sorted(n for pid in pids if pid in chosen for n, _ in by_id[pid])
    if per_identity < 1:
        raise ReidPruneError(f"per_identity must be >= 1, got {per_identity}")
    kept = []
    for pid in pids:
        cams: dict[int, list[str]] = {}
        for name, cam in by_id[pid]:
            cams.setdefault(cam, []).append(name)
        queues = [list(rng.permutation(cams[c])) for c in sorted(cams)]
        take = []
        while len(take) < per_identity and any(queues):
            for q in queues:
                if q and len(take) < per_identity:
                    take.append(q.pop(0))
        kept += take
    return sorted(kept)


def subsample(root: str | os.PathLike, out: str | os.PathLike, per_identity: int | None = None,
              identities: int | None = None, seed: int = 0) -> Path:
    """Write (or reuse) a hard-linked scarce variant of ``root`` at ``out``; returns ``out``."""
    root, out = Path(root), Path(out)
    recipe = {"source": str(root.resolve()), "per_identity": per_identity, "identities": identities, "seed": seed}
    stamp = out / "subsample.json"
    if stamp.exists():
        if json.loads(stamp.read_text()) == recipe:
            return out
        raise ReidPruneError(f"{out} holds another subsample ({stamp}); choose another folder")
    if out.exists() and any(out.iterdir()):
        raise ReidPruneError(f"{out} exists and is not a subsample folder; choose another folder")
    keep = choose_training_files(_train_files(root), per_identity, identities, seed)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        import shutil
        shutil.rmtree(tmp)
    for split in SPLITS:
        (tmp / split).mkdir(parents=True)
        names = keep if split == "bounding_box_train" else sorted(os.listdir(root / split)) if (root / split).is_dir() else []
        for name in names:
            os.link(root / split / name, tmp / split / name)
    (tmp / "subsample.json").write_text(json.dumps(recipe))
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out
