"""Scores on disk: one ``.npz`` (no pickles) holding every method's arrays and what produced them.

Every file carries the dataset fingerprint, the training split's relative paths, identities and
file sizes, each method's name, parameters and cost, and the reidprune version, so a later
``prune`` can refuse scores computed on another dataset and say which files differ.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reidprune import __version__
from reidprune.atomic import atomic_path, json_default
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError

FORMAT = "reidprune-scores/1"


@dataclass
class MethodScores:
    """One method's result. ``importance``: higher = more important = kept."""

    name: str
    importance: np.ndarray
    params: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)  # {"epochs": training epochs, "seconds": wall time, "runs": n}
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ScoreSet:
    """All methods scored on one training split."""

    fingerprint: str
    paths: np.ndarray  # training images, relative to the dataset root, index order
    pids: np.ndarray
    sizes: np.ndarray
    labels: np.ndarray  # labels the scores were computed with (after any injected noise)
    classes: np.ndarray
    methods: dict[str, MethodScores] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @classmethod
    def for_table(cls, train: SampleTable, info: dict | None = None) -> "ScoreSet":
        return cls(train.fingerprint(), train.relative_paths(), train.pid.copy(), train.file_sizes(),
                   train.label.copy(), train.classes.copy(), {}, dict(info or {}))

    def __getitem__(self, name: str) -> MethodScores:
        if name not in self.methods:
            raise ReidPruneError(
                f"no scores for method {name!r} in this file; it has {', '.join(self.methods) or 'none'}")
        return self.methods[name]

    def add(self, result: MethodScores) -> None:
        if len(result.importance) != len(self.paths):
            raise ReidPruneError(
                f"method {result.name} scored {len(result.importance)} samples, expected {len(self.paths)}")
        self.methods[result.name] = result

    def check_matches(self, train: SampleTable, source: str | os.PathLike = "scores") -> None:
        """Refuse scores computed on another dataset; name the files that differ."""
        if train.fingerprint() == self.fingerprint:
            return
        mine = dict(zip(self.paths.tolist(), zip(self.pids.tolist(), self.sizes.tolist())))
        theirs = dict(zip(train.relative_paths().tolist(), zip(train.pid.tolist(), train.file_sizes().tolist())))
        missing = sorted(set(mine) - set(theirs))
        added = sorted(set(theirs) - set(mine))
        changed = sorted(p for p in set(mine) & set(theirs) if mine[p] != theirs[p])
        parts = []
        for label, items in (("scored but not in the dataset", missing), ("in the dataset but not scored", added),
                             ("changed id or size", changed)):
            if items:
                parts.append(f"{len(items)} {label} (e.g. {', '.join(items[:3])})")
        detail = "; ".join(parts) or "same files in another order or split"
        raise ReidPruneError(f"{source} were computed on a different dataset: {detail}. Score this dataset again")

    def save(self, path: str | os.PathLike) -> None:
        arrays = {"paths": self.paths.astype(str), "pids": self.pids, "sizes": self.sizes,
                  "labels": self.labels, "classes": self.classes}
        meta = {"format": FORMAT, "version": __version__, "fingerprint": self.fingerprint,
                "info": self.info, "methods": {}}
        for name, m in self.methods.items():
            arrays[f"{name}/importance"] = np.asarray(m.importance, dtype=np.float64)
            for key, value in m.extras.items():
                arrays[f"{name}/{key}"] = np.asarray(value)
            meta["methods"][name] = {"params": m.params, "cost": m.cost, "extras": sorted(m.extras)}
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True, default=json_default))
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ScoreSet":
        path = Path(path)
        if not path.is_file():
            raise ReidPruneError(f"score file {path} does not exist; run `reidprune score` first")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(str(arrays.pop("meta")))
        except (OSError, ValueError, KeyError) as exc:
            raise ReidPruneError(f"{path} is not a reidprune score file ({exc})") from exc
        if meta.get("format") != FORMAT:
            raise ReidPruneError(f"{path} has format {meta.get('format')!r}, expected {FORMAT}")
        out = cls(meta["fingerprint"], arrays["paths"], arrays["pids"], arrays["sizes"], arrays["labels"],
                  arrays["classes"], {}, meta.get("info", {}))
        for name, m in meta["methods"].items():
            extras = {key: arrays[f"{name}/{key}"] for key in m["extras"]}
            out.methods[name] = MethodScores(name, arrays[f"{name}/importance"], m["params"], m["cost"], extras)
        return out

