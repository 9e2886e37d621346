"""Preflight checks of a command that need no scores, run before any training starts.

A command that would fail after an hour of scoring (a materialize target that is not empty,
an output folder that cannot be written, an input size the backbone cannot pool, a count that
removes the whole set) fails here first, with one line naming the value and what to do.

Nothing here imports torch: an error found here prints at once.
"""
from __future__ import annotations

import math

from reidprune.errors import ReidPruneError
from reidprune.validation.paths import check_materialize_target


def check_removal(num_images: int, fraction: float | None, count: int | None) -> None:
    """Refuse a ``--count`` / ``--fraction`` that removes every training image."""
    if count is not None and count >= num_images:
        raise ReidPruneError(
            f"--count {count} removes every one of the {num_images} training images; give a --count "
            f"below {num_images} (or a --fraction)")
    if fraction is not None and num_images and math.floor(fraction * num_images + 0.5) >= num_images:
        raise ReidPruneError(
            f"--fraction {fraction:g} removes every one of the {num_images} training images; give a "
            "smaller --fraction")


def check_selection_setup(table, fraction: float | None, count: int | None, materialize, out,
                          decisions=None) -> None:
    """Everything about a selection that can be checked before scoring (``run`` calls it first).

    Parameters
    ----------
    table: the dataset's :class:`~reidprune.data.table.SampleTable`.
    fraction, count: how much to remove (one of them, as ``--fraction`` / ``--count``).
    materialize: the ``--materialize`` folder or None.
    out: the ``--out`` folder.
    decisions: the ``--decisions`` file or None (read, not changed; its dataset is checked after scoring).
    """
    check_removal(len(table.split_table("train")), fraction, count)
    check_materialize_target(materialize, table.root, out)
    if decisions:
        from reidprune.select.decisions import check_decisions_file

        check_decisions_file(decisions)


def check_evaluation_splits(table, mode: str) -> None:
    """`train` evaluates after training: the splits it needs must be there before it starts.

    Parameters
    ----------
    table: the dataset's :class:`~reidprune.data.table.SampleTable`.
    mode: ``"reid"`` (needs query and gallery) or ``"classify"`` (needs test).
    """
    needed = ("test",) if mode == "classify" else ("query", "gallery")
    missing = [split for split in needed if not len(table.split_table(split))]
    if missing:
        raise ReidPruneError(
            f"{table.root} has no {' and no '.join(missing)} images, which `train` evaluates on after training "
            f"({mode} mode); add them (Market-1501 layout: query/ and bounding_box_test/) or use another dataset")
