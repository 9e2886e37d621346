"""The three sample lists of the paper's repository README (Sec. 2), written and read back.

A folder (one per dataset) holds:

``fpath_list.npy``
    numpy array of str: each training sample's path relative to the dataset root, in index
    order. A sample's index is its position in this list.
``Ranking_list.npy``
    the same paths sorted by importance, MOST DIFFICULT FIRST (the easiest last, so pruning
    ``n`` samples drops the last ``n``).
``Mislabeled_outlier_samples.pickle``
    a dict of two numpy arrays. The README does not name the keys; we write
    ``"mislabeled"``: int64 ``(M, 2)`` rows ``[index, predicted ORIGINAL id]`` for the ``M``
    samples flagged as mislabeled, and ``"outliers"``: int64 ``(K,)`` outlier indices.
    :func:`read_seed_lists` also accepts any dict of exactly two arrays, taken in that order.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from reidprune.atomic import atomic_path
from reidprune.data.safe_pickle import safe_load_pickle
from reidprune.errors import ReidPruneError
from reidprune.select.prune import ranking_most_difficult_first
from reidprune.validation.arrays import as_bool_mask
from reidprune.validation.paths import is_absolute_path

FPATH_LIST = "fpath_list.npy"
RANKING_LIST = "Ranking_list.npy"
MISLABELED_OUTLIERS = "Mislabeled_outlier_samples.pickle"
MISLABELED_KEY = "mislabeled"
OUTLIERS_KEY = "outliers"

# Protocol 4 pickles numpy arrays through _reconstruct (no out-of-band buffers) and is
# readable by every Python 3 the paper's code may run on.
_PICKLE_PROTOCOL = 4


def write_seed_lists(out_dir: str | os.PathLike, relative_paths: np.ndarray, importance: np.ndarray,
                     mislabeled_mask: np.ndarray, predicted_original_ids: np.ndarray,
                     outlier_mask: np.ndarray) -> dict[str, Path]:
    """Write the paper's three list files into ``out_dir`` (created if needed), each atomically.

    Parameters
    ----------
    out_dir:
        Folder to write into; existing files of the same names are replaced.
    relative_paths:
        ``(N,)`` unique paths of the training samples relative to the dataset root, in
        index order (e.g. ``SampleTable.split_table("train").relative_paths()``).
    importance:
        ``(N,)`` finite importance scores, higher = more difficult = kept. The ranking is
        :func:`reidprune.select.prune.ranking_most_difficult_first` (ties: higher index first).
    mislabeled_mask:
        ``(N,)`` bool, True for samples flagged as mislabeled.
    predicted_original_ids:
        ``(N,)`` integers, index-aligned: the predicted class of every sample as an ORIGINAL
        identity (``classes[predicted_label]``); only the flagged rows are written.
    outlier_mask:
        ``(N,)`` bool, True for outliers.

    Returns
    -------
    dict[str, Path]
        The written files, keyed ``"fpath_list"``, ``"ranking_list"``,
        ``"mislabeled_outliers"``.
    """
    paths = _check_paths(relative_paths)
    n = len(paths)
    ranking = paths[ranking_most_difficult_first(_check_length(importance, n, "importance"))]
    mislabeled = as_bool_mask(mislabeled_mask, n, "mislabeled mask")
    outliers = as_bool_mask(outlier_mask, n, "outlier mask")
    predicted = np.asarray(predicted_original_ids)
    if predicted.shape != (n,) or (n and not np.issubdtype(predicted.dtype, np.integer)):
        raise ReidPruneError(f"predicted original ids must be {n} integers (one per sample), "
                             f"got dtype {predicted.dtype} shape {predicted.shape}")
    flagged = np.flatnonzero(mislabeled).astype(np.int64)
    table = {
        MISLABELED_KEY: np.stack([flagged, predicted[flagged].astype(np.int64)], axis=1).reshape(-1, 2),
        OUTLIERS_KEY: np.flatnonzero(outliers).astype(np.int64),
    }
    out = Path(out_dir)
    written = {"fpath_list": out / FPATH_LIST, "ranking_list": out / RANKING_LIST,
               "mislabeled_outliers": out / MISLABELED_OUTLIERS}
    _write_npy(written["fpath_list"], paths)
    _write_npy(written["ranking_list"], ranking)
    with atomic_path(written["mislabeled_outliers"]) as tmp, open(tmp, "wb") as handle:
        pickle.dump(table, handle, protocol=_PICKLE_PROTOCOL)
    return written


def read_seed_lists(folder: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read and check the three list files of a folder; trusts nothing in them.

    The ``.npy`` files are loaded with ``allow_pickle=False``. The pickle is loaded with
    :func:`reidprune.data.safe_pickle.safe_load_pickle`, a restricted unpickler that only
    rebuilds plain containers and numpy arrays: any other global, e.g. a ``__reduce__``
    calling ``os.system``, is refused before anything runs. Then it checks that:

    * ``fpath_list`` is a 1-D array of unique strings (``N`` paths);
    * ``Ranking_list`` is a 1-D array of strings holding exactly the same paths (a
      permutation); ``Ranking_list`` without the ``.npy`` suffix is read as well;
    * the pickle holds a dict of exactly two numpy arrays (keys ``"mislabeled"`` and
      ``"outliers"``, or any two keys taken in order);
    * ``mislabeled`` is an integer ``(M, 2)`` array (an empty array of any shape reads as
      ``(0, 2)``) whose first column holds unique indices in ``0..N-1``;
    * ``outliers`` is a 1-D integer array of unique indices in ``0..N-1``.

    Parameters
    ----------
    folder:
        The folder holding the three files.

    Returns
    -------
    dict[str, np.ndarray]
        ``"fpath_list"`` (str ``(N,)``), ``"ranking_list"`` (str ``(N,)``),
        ``"ranking_indices"`` (int64 ``(N,)``, the index of each ranked path),
        ``"mislabeled"`` (int64 ``(M, 2)``) and ``"outliers"`` (int64 ``(K,)``).

    Raises
    ------
    ReidPruneError
        Naming the file at fault, when one is missing, unreadable or fails a check.
    """
    folder = Path(folder)
    fpath_file = folder / FPATH_LIST
    ranking_file = folder / RANKING_LIST
    if not ranking_file.exists() and (folder / "Ranking_list").exists():
        ranking_file = folder / "Ranking_list"
    pickle_file = folder / MISLABELED_OUTLIERS

    paths = _read_str_npy(fpath_file)
    if len(np.unique(paths)) != len(paths):
        raise ReidPruneError(f"{fpath_file}: paths must be unique (a path maps to one index)")
    ranking = _read_str_npy(ranking_file)
    index_of = {path: i for i, path in enumerate(paths.tolist())}
    ranking_indices = np.array([index_of.get(path, -1) for path in ranking.tolist()], dtype=np.int64)
    if len(ranking) != len(paths) or (ranking_indices < 0).any() \
            or len(np.unique(ranking_indices)) != len(paths):
        raise ReidPruneError(f"{ranking_file}: must list exactly the {len(paths)} paths of "
                             f"{FPATH_LIST}, each once; the files do not belong together")

    mislabeled, outliers = _read_purification(pickle_file, len(paths))
    return {"fpath_list": paths, "ranking_list": ranking, "ranking_indices": ranking_indices,
            "mislabeled": mislabeled, "outliers": outliers}


def _read_purification(path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise ReidPruneError(f"{path}: file not found; the folder must hold {FPATH_LIST}, "
                             f"{RANKING_LIST} and {MISLABELED_OUTLIERS}")
    table = safe_load_pickle(path, encoding="latin1")
    if not isinstance(table, dict) or len(table) != 2 \
            or not all(isinstance(v, np.ndarray) for v in table.values()):
        raise ReidPruneError(f"{path}: expected a dict of two numpy arrays "
                             f"({MISLABELED_KEY!r}, {OUTLIERS_KEY!r}), got {type(table).__name__}")
    if set(table) == {MISLABELED_KEY, OUTLIERS_KEY}:
        mislabeled, outliers = table[MISLABELED_KEY], table[OUTLIERS_KEY]
    else:
        mislabeled, outliers = table.values()
    return _check_mislabeled(mislabeled, n, path), _check_outliers(outliers, n, path)


def _check_mislabeled(array: np.ndarray, n: int, path: Path) -> np.ndarray:
    if array.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != 2 or not np.issubdtype(array.dtype, np.integer):
        raise ReidPruneError(f"{path}: the mislabeled array must be integer (M, 2) "
                             f"[index, predicted id] rows, got dtype {array.dtype} shape {array.shape}")
    _check_indices(array[:, 0], n, path, "mislabeled")
    return array.astype(np.int64)


def _check_outliers(array: np.ndarray, n: int, path: Path) -> np.ndarray:
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ReidPruneError(f"{path}: the outlier array must be a 1-D integer array of indices, "
                             f"got dtype {array.dtype} shape {array.shape}")
    _check_indices(array, n, path, "outlier")
    return array.astype(np.int64)


def _check_indices(indices: np.ndarray, n: int, path: Path, what: str) -> None:
    if indices.min() < 0 or indices.max() >= n:
        raise ReidPruneError(f"{path}: {what} indices must lie in 0..{n - 1} ({FPATH_LIST} has {n} paths), "
                             f"got {indices.min()}..{indices.max()}")
    if len(np.unique(indices)) != len(indices):
        raise ReidPruneError(f"{path}: {what} indices must be unique")


def _read_str_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ReidPruneError(f"{path}: file not found; the folder must hold {FPATH_LIST}, "
                             f"{RANKING_LIST} and {MISLABELED_OUTLIERS}")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        raise ReidPruneError(f"{path}: not a plain .npy array ({exc}); "
                             "it must hold strings, saved without pickling") from exc
    if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype.kind != "U":
        raise ReidPruneError(f"{path}: expected a 1-D array of str paths, got "
                             f"dtype {getattr(array, 'dtype', None)} shape {getattr(array, 'shape', None)}")
    return array


def _write_npy(dest: Path, array: np.ndarray) -> None:
    # np.save appends ".npy" to a path without it, so write through an open file.
    with atomic_path(dest) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def _check_paths(relative_paths: np.ndarray) -> np.ndarray:
    paths = np.asarray(relative_paths)
    if paths.ndim != 1 or (len(paths) and paths.dtype.kind != "U"):
        raise ReidPruneError(f"relative paths must be a 1-D array of str, got dtype {paths.dtype} "
                             f"shape {paths.shape}")
    paths = paths.astype(str)
    for path in paths.tolist():
        if not path or is_absolute_path(path):
            raise ReidPruneError(f"sample path {path!r} must be relative to the dataset root "
                                 "(use SampleTable.relative_paths())")
    if len(np.unique(paths)) != len(paths):
        raise ReidPruneError("sample paths must be unique: a path maps to one index in fpath_list.npy")
    return paths


def _check_length(values: np.ndarray, n: int, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (n,):
        raise ReidPruneError(f"{name} must have one entry per sample path ({n}), got shape {array.shape}")
    return array
