"""The sample table: every dataset, whatever its layout, becomes one of these.

One row per image: ``path`` (absolute), ``pid`` (the identity / class id as the dataset
writes it), ``camid``, ``split`` (``train``, ``query``, ``gallery`` or ``test``) and
``label`` (the training label, 0..C-1, or -1 for identities that are not in the training
split). ``classes[label]`` maps a label back to its original pid.

Datasets whose pixels live inside one file (CIFAR-100's pickle batches) keep them in
``pixels`` (N x H x W x 3 uint8) and use ``path`` only as a readable name
(``.../train#00042``).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reidprune.errors import ReidPruneError

SPLITS = ("train", "query", "gallery", "test")


@dataclass(frozen=True)
class SampleTable:
    """Rows of a dataset. Build it with :func:`make_table` rather than by hand."""

    root: Path
    layout: str
    path: np.ndarray  # str, absolute
    pid: np.ndarray  # int64, original identity / class id
    camid: np.ndarray  # int64, -1 when the layout has no cameras
    split: np.ndarray  # str, one of SPLITS
    label: np.ndarray  # int64, 0..C-1 for training identities, -1 otherwise
    classes: np.ndarray  # int64, classes[label] == original pid
    pixels: np.ndarray | None = field(default=None, repr=False)  # N x H x W x 3 uint8

    def __len__(self) -> int:
        return len(self.path)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def rows(self, split: str) -> np.ndarray:
        """Indices of the rows of one split."""
        if split not in SPLITS:
            raise ReidPruneError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return np.flatnonzero(self.split == split)

    def select(self, index: np.ndarray) -> "SampleTable":
        """Rows ``index`` as a new table; labels and the class map are kept unchanged."""
        index = np.asarray(index, dtype=np.int64)
        return SampleTable(
            root=self.root, layout=self.layout, path=self.path[index], pid=self.pid[index],
            camid=self.camid[index], split=self.split[index], label=self.label[index],
            classes=self.classes, pixels=None if self.pixels is None else self.pixels[index],
        )

    def split_table(self, split: str) -> "SampleTable":
        """The rows of one split, renumbered 0..n-1 (the index used by scores and exports)."""
        return self.select(self.rows(split))

    def with_labels(self, label: np.ndarray) -> "SampleTable":
        """The same rows with other training labels (noise injection, relabelling)."""
        label = np.asarray(label, dtype=np.int64)
        if label.shape != self.label.shape:
            raise ReidPruneError(f"expected {len(self)} labels, got {label.shape}")
        if len(label) and (label.max() >= self.num_classes or label.min() < -1):
            raise ReidPruneError(
                f"labels must lie in 0..{self.num_classes - 1} (or -1), got {label.min()}..{label.max()}")
        return SampleTable(self.root, self.layout, self.path, self.pid, self.camid, self.split,
                           label, self.classes, self.pixels)

    def relative_paths(self) -> np.ndarray:
        """Paths relative to the dataset root (as stored in exports)."""
        root = str(self.root)
        return np.array([os.path.relpath(p, root) for p in self.path], dtype=str)

    def file_sizes(self) -> np.ndarray:
        """Bytes of each image file (pixel bytes for in-memory datasets)."""
        if self.pixels is not None:
            return np.full(len(self), self.pixels[0].nbytes if len(self) else 0, dtype=np.int64)
        return np.array([os.path.getsize(p) if os.path.exists(p) else -1 for p in self.path],
                        dtype=np.int64)

    def fingerprint(self) -> str:
        """sha256 over (relative path, pid, camid, split, file size) of every row."""
        digest = hashlib.sha256()
        for rel, pid, cam, split, size in zip(self.relative_paths(), self.pid, self.camid,
                                              self.split, self.file_sizes()):
            digest.update(f"{rel}\t{pid}\t{cam}\t{split}\t{size}\n".encode())
        return digest.hexdigest()


def make_table(root: str | os.PathLike, layout: str, paths, pids, camids, splits,
               pixels: np.ndarray | None = None) -> SampleTable:
    """Build a table and relabel the training identities to 0..C-1 (sorted by original pid).

    Raises :class:`ReidPruneError` when the dataset has no training images.
    """
    paths = np.asarray(paths, dtype=str)
    pids = np.asarray(pids, dtype=np.int64)
    camids = np.asarray(camids, dtype=np.int64)
    splits = np.asarray(splits, dtype=str)
    if not (len(paths) == len(pids) == len(camids) == len(splits)):
        raise ReidPruneError("paths, pids, camids and splits must have the same length")
    bad = set(np.unique(splits)) - set(SPLITS)
    if bad:
        raise ReidPruneError(f"unknown split name(s) {sorted(bad)}; use {', '.join(SPLITS)}")
    train = splits == "train"
    if not train.any():
        raise ReidPruneError(f"no training images found under {root} (layout {layout!r})")
    classes = np.unique(pids[train])
    pos = np.searchsorted(classes, pids)
    pos_clipped = np.minimum(pos, len(classes) - 1)
    label = np.where(classes[pos_clipped] == pids, pos_clipped, -1).astype(np.int64)
    return SampleTable(Path(root).resolve(), layout, paths, pids, camids, splits, label, classes,
                       pixels)
