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
        except Exception as exc:  # noqa: BLE001 - truncated zip, bad zlib stream, bad JSON: all the user's file
            raise ReidPruneError(f"{path} is not a readable reidprune score file ({type(exc).__name__}: "
                                 f"{exc}); it may be truncated: run `reidprune score` again") from None
        if isinstance(meta, dict) and not (isinstance(meta.get("info", {}), dict)
                                           and isinstance(meta.get("methods"), dict)
                                           and all(isinstance(m, dict) for m in meta["methods"].values())):
            raise ReidPruneError(f"{path}: its metadata is damaged (info/methods are not tables); run "
                                 "`reidprune score` again")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise ReidPruneError(f"{path} has format {found!r}, expected {FORMAT}")
        try:
            out = cls(meta["fingerprint"], arrays["paths"], arrays["pids"], arrays["sizes"], arrays["labels"],
                      arrays["classes"], {}, meta.get("info", {}))
            for name, m in meta["methods"].items():
                extras = {key: arrays[f"{name}/{key}"] for key in m["extras"]}
                out.methods[name] = MethodScores(name, arrays[f"{name}/importance"], m["params"], m["cost"],
                                                 extras)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ReidPruneError(f"{path} lacks {exc} or has it in the wrong form; the file is damaged: run "
                                 "`reidprune score` again") from None
        out._check_shapes(path)
        return out

    def _check_shapes(self, path: Path) -> None:
        """Every per-sample array must have one row per scored image (an edited file may not)."""
        n = len(self.paths)
        per_sample = {"pids": self.pids, "sizes": self.sizes, "labels": self.labels}
        for name, m in self.methods.items():
            per_sample[f"{name}/importance"] = m.importance
            per_sample.update({f"{name}/{key}": value for key, value in m.extras.items()})
        def damaged(what: str) -> ReidPruneError:
            return ReidPruneError(f"{path}: {what}; the file is damaged or edited: run `reidprune score` again")

        for key, value in per_sample.items():
            if np.ndim(value) == 0 or len(value) != n:
                raise damaged(f"array {key} has {len(value) if np.ndim(value) else 0} rows, expected {n} (one "
                              "per scored image)")
            if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
                raise damaged(f"array {key} holds {value.dtype} values, not numbers")
        for key in ("pids", "sizes", "labels", "classes"):
            if not np.issubdtype(getattr(self, key).dtype, np.integer) or getattr(self, key).ndim != 1:
                raise damaged(f"array {key} must be a list of integers")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise damaged(f"labels lie in {self.labels.min()}..{self.labels.max()}, outside 0..{len(self.classes) - 1}")
        for name, m in self.methods.items():
            if not np.isfinite(m.importance).all():
                raise damaged(f"method {name} has non-finite importance scores")
            logits = m.extras.get("mean_logits")
            if logits is not None and (logits.ndim != 2 or logits.shape[1] != len(self.classes)):
                raise damaged(f"{name}/mean_logits has shape {logits.shape}, expected ({n}, {len(self.classes)})")
