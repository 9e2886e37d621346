"""The training rows a command works on: their images, the rows a score file covers, a manifest's labels.

Only :func:`load_training_images` imports torch, so ``prune`` reports a bad input at once.
"""
from __future__ import annotations

import numpy as np

from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError


def load_training_images(table: SampleTable, size: tuple[int, int], skip_bad_images: bool = False,
                         progress: bool = True):
    """A table's training rows and their images at the input size, memory-mapped from the image
    cache ($REIDPRUNE_CACHE, decoded on first use; under torchrun rank 0 decodes, the others wait).

    Parameters
    ----------
    table: the whole dataset.
    size: ``(height, width)`` of the images.
    skip_bad_images: leave unreadable images out (counted, with a warning) instead of stopping.
    progress: show a progress bar while decoding.

    Returns
    -------
    ``(train, images, unreadable)``: the readable training rows, their uint8 images and how many
    rows were left out.
    """
    from reidprune.data.cache import cached_images, image_rows
    from reidprune.train import distributed

    train = table.split_table("train")
    on_error = "skip" if skip_bad_images else "raise"
    if not distributed.is_main():
        distributed.barrier()
    images, ok = cached_images(train, size=size, on_error=on_error, progress=progress)  # warns with the count
    if distributed.is_main():
        distributed.barrier()
    if not ok.all():
        keep = np.flatnonzero(ok)
        train, images = train.select(keep), image_rows(images, keep)
    return train, images, int((~ok).sum())


def align_to_scores(train: SampleTable, scores) -> SampleTable:
    """The training rows ``scores`` (a :class:`~reidprune.scores.store.ScoreSet`) cover, in their
    order: rows skipped as unreadable when scoring are left out. Other mismatches are left for
    ``ScoreSet.check_matches`` to report."""
    paths = train.relative_paths()
    if len(scores.paths) < len(paths) and set(scores.paths.tolist()) <= set(paths.tolist()):
        position = {p: i for i, p in enumerate(paths.tolist())}
        return train.select(np.array([position[p] for p in scores.paths.tolist()]))
    return train


def labels_from_manifest(rows, classes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Training labels for a manifest's corrected ids (-1 for ids outside the training set).

    Parameters
    ----------
    rows: the manifest (:func:`~reidprune.export.manifest.read_manifest`).
    classes: the training identities; label ``i`` is ``classes[i]``.
    keep: the rows the manifest keeps; each of them must carry a training identity.
    """
    known = np.isin(rows.corrected_id, classes)
    bad = np.flatnonzero(keep & ~known)
    if len(bad):
        i = bad[0]
        raise ReidPruneError(
            f"{rows.source}, line {rows.line[i]}: corrected_id {rows.corrected_id[i]} is not an identity of the "
            f"training set ({len(bad)} such kept rows); use an existing id or set the row's status to pruned")
    return np.where(known, np.searchsorted(classes, rows.corrected_id), -1)
