"""CIFAR-100, python version: the pickled batches ``train``, ``test`` and ``meta``.

::

    root/train  root/test  root/meta                      (or the same inside root/cifar-100-python/)

Each batch is a dict with ``data`` (N x 3072 uint8, channel-major 3 x 32 x 32) and
``fine_labels``. The pixels go to ``SampleTable.pixels`` (N x 32 x 32 x 3) and each row's path
is a readable name, ``<batch file>#<index>``. pid = fine label, camid = -1, splits ``train``
and ``test``. The batches are read with :func:`~reidprune.data.safe_pickle.safe_load_pickle`,
never ``pickle.load``. Python 2 wrote them, so keys may be bytes or str; both are accepted.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from reidprune.data.layouts.base import LoadedDataset, dataset_root
from reidprune.data.safe_pickle import safe_load_pickle
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError

CIFAR_SUBFOLDER = "cifar-100-python"
CIFAR_SIDE = 32


def find_cifar_folder(root: Path) -> Path | None:
    """The folder holding the ``train`` batch: ``root`` or ``root/cifar-100-python``."""
    for folder in (root, root / CIFAR_SUBFOLDER):
        if (folder / "train").is_file():
            return folder
    return None


def load_cifar100(root: str | os.PathLike) -> LoadedDataset:
    """Read CIFAR-100's python batches.

    Parameters
    ----------
    root:
        Folder holding ``train`` (required), ``test`` and ``meta`` (optional), directly or in
        ``cifar-100-python/``.

    Returns
    -------
    LoadedDataset
        Train rows then test rows, in batch order; ``names`` maps each fine label to its name
        when ``meta`` is present.
    """
    root = dataset_root(root)
    folder = find_cifar_folder(root)
    if folder is None:
        raise ReidPruneError(f"{root} has no CIFAR-100 'train' batch (looked in {root} and "
                             f"{root / CIFAR_SUBFOLDER}); the cifar100 layout expects the files "
                             "train, test, meta")
    paths, labels, splits, pixels = [], [], [], []
    for split in ("train", "test"):
        batch = folder / split
        if split == "test" and not batch.is_file():
            continue
        images, fine = read_batch(batch)
        paths.extend(f"{batch}#{i:05d}" for i in range(len(fine)))
        labels.append(fine)
        splits.extend([split] * len(fine))
        pixels.append(images)
    label = np.concatenate(labels)
    table = make_table(root, "cifar100", paths, label, np.full(len(label), -1), splits,
                       pixels=np.concatenate(pixels))
    names = read_label_names(folder / "meta") if (folder / "meta").is_file() else {}
    return LoadedDataset(table, names=names)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(pixels N x 32 x 32 x 3 uint8, fine labels int64)`` of one CIFAR-100 batch file."""
    batch = safe_load_pickle(path)
    data = dict_value(batch, "data", path)
    fine = dict_value(batch, "fine_labels", path)
    side = CIFAR_SIDE
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * side * side):
        shape = getattr(data, "shape", type(data).__name__)
        raise ReidPruneError(f"{path}: 'data' must be an N x {3 * side * side} uint8 array, got "
                             f"{shape}; is this the CIFAR-100 python version?")
    try:
        fine = np.asarray(fine, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise ReidPruneError(f"{path}: 'fine_labels' must be a list of integers")
    if fine.shape != (len(data),) or (len(fine) and fine.min() < 0):
        raise ReidPruneError(f"{path}: 'fine_labels' must hold {len(data)} non-negative integers, "
                             f"got shape {fine.shape}")
    pixels = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(pixels), fine


def read_label_names(path: Path) -> dict[int, str]:
    """Fine label -> name from CIFAR-100's ``meta`` file."""
    names = dict_value(safe_load_pickle(path), "fine_label_names", path)
    if not isinstance(names, (list, tuple)):
        raise ReidPruneError(f"{path}: 'fine_label_names' must be a list")
    return {i: name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            for i, name in enumerate(names)}


def dict_value(obj: Any, key: str, path: Path) -> Any:
    """``obj[key]`` for a dict pickled by Python 2 (bytes keys) or Python 3 (str keys)."""
    if not isinstance(obj, dict):
        raise ReidPruneError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    for candidate in (key, key.encode()):
        if candidate in obj:
            return obj[candidate]
    raise ReidPruneError(f"{path}: key {key!r} is missing; is this the CIFAR-100 python version?")
