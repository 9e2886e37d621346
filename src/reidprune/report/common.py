"""Helpers shared by the PNG figures, the HTML report and the review page (no heavy imports).

Which rows a view shows in what order, the given identity of each row, the path of an image
under the dataset root (validated) and parameter checks.
"""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.export.manifest import Manifest
from reidprune.select.selection import KEPT, OUTLIER, PRUNED, RELABELLED, STATUSES

#: Border / bar colour of each status (kept green, relabelled orange, pruned grey, outlier red).
STATUS_COLOURS = {KEPT: "#2ca02c", RELABELLED: "#ff7f0e", PRUNED: "#7f7f7f", OUTLIER: "#d62728"}


def ordered_rows(rows: np.ndarray, values: np.ndarray, descending: bool) -> np.ndarray:
    """``rows`` sorted by ``values[rows]``, stable (ties in row order), NaN last."""
    keys = values[rows]
    keys = np.where(np.isnan(keys), np.inf, -keys if descending else keys)
    return rows[np.argsort(keys, kind="stable")]


def spread_positions(available: int, wanted: int) -> np.ndarray:
    """``min(available, wanted)`` distinct positions in ``0..available-1``, ends included."""
    if available <= wanted:
        return np.arange(available)
    # floor(x + 0.5) rather than np.round: half-to-even rounding could merge neighbours
    # (1.5 and 2.5 both -> 2); with a step of at least 1 this stays strictly increasing.
    return np.floor(np.linspace(0, available - 1, wanted) + 0.5).astype(np.int64)


def histogram_counts(values: np.ndarray, status: np.ndarray,
                     edges: np.ndarray) -> dict[str, np.ndarray]:
    """Histogram of ``values`` per status, NaN values left out.

    Parameters
    ----------
    values:
        Per-sample values (entropy or max score), NaN for "not computed".
    status:
        Per-sample status, one of :data:`~reidprune.select.selection.STATUSES`.
    edges:
        Bin edges, increasing (``numpy.histogram`` semantics: the last bin includes its right
        edge).

    Returns
    -------
    dict[str, numpy.ndarray]
        Status -> int64 counts per bin, for every status in
        :data:`~reidprune.select.selection.STATUSES` order.
    """
    values = np.asarray(values, dtype=np.float64)
    status = np.asarray(status)
    finite = ~np.isnan(values)
    return {name: np.histogram(values[finite & (status == name)], bins=edges)[0].astype(np.int64)
            for name in STATUSES}


def assigned_ids(manifest: Manifest) -> np.ndarray:
    """Identity each row was labelled with before selection, in the original-id space.

    Parameters
    ----------
    manifest:
        A manifest covering the whole training split (as :func:`write_manifest` writes it).

    Returns
    -------
    numpy.ndarray
        int64 ``classes[assigned_label]`` where ``classes`` are the sorted distinct original
        ids (the training label map :func:`~reidprune.data.table.make_table` builds); -1
        where ``assigned_label`` is outside it (a hand-edited manifest).
    """
    classes = np.unique(manifest.original_id)
    label = manifest.assigned_label
    ids = np.full(len(label), -1, dtype=np.int64)
    known = (label >= 0) & (label < len(classes))
    ids[known] = classes[label[known]]
    return ids


def image_path(manifest: Manifest, root: Path, i: int) -> Path:
    rel = str(manifest.path[i])
    where = f"{manifest_name(manifest)}, line {int(manifest.line[i])}"
    if rel.startswith(("/", "\\")) or PureWindowsPath(rel).drive or os.path.isabs(rel):
        raise ReidPruneError(f"{where}: image path {rel!r} is absolute; paths must be relative "
                             "to the dataset root")
    if ".." in re.split(r"[\\/]", rel):
        raise ReidPruneError(f"{where}: image path {rel!r} contains '..'; paths must stay inside "
                             "the dataset root")
    path = root / PurePosixPath(rel)
    if not path.is_file():
        raise ReidPruneError(f"{where}: image {path} does not exist; pass the dataset root the "
                             "manifest was made from")
    return path


def manifest_name(manifest: Manifest) -> str:
    return f"manifest {manifest.source}" if manifest.source else "the manifest"


def check_positive_int(value, name: str) -> int:
    """``value`` as a positive int, or a :class:`ReidPruneError` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ReidPruneError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_seed(seed) -> int:
    """``seed`` as a non-negative int, or a :class:`ReidPruneError`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ReidPruneError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
