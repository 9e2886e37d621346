"""Checks that need no scores, run by the CLI before any training starts.

A command that would fail after an hour of scoring (a materialize target that is not empty,
an output folder that cannot be written, an input size the backbone cannot pool, a count that
removes the whole set) fails here first, with one line naming the value and what to do.

Nothing here imports torch: an error found here prints at once.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
from pathlib import Path
from typing import Iterator

from reidprune.errors import ReidPruneError
from reidprune.models.names import BACKBONE_HALVINGS

LOCK_NAME = ".reidprune.lock"

# Unknown backbones get the largest downsampling of torchvision's classifiers (32).
DEFAULT_HALVINGS = 5


def prepare_output_folder(out: str | os.PathLike, option: str = "--out") -> Path:
    """Create ``out`` (and its parents) and make sure files can be written in it.

    Parameters
    ----------
    out:
        The output folder a command writes to.
    option:
        The CLI option that named it, for the message.

    Returns
    -------
    Path
        ``out`` as a Path, existing and writable.
    """
    out = Path(out)
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            raise ReidPruneError(f"{option} {out}: {parent} is a file, not a folder; choose an output folder "
                                 "whose path has no file in it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReidPruneError(f"{option} {out}: cannot create the folder ({exc.strerror or exc}); choose a "
                             "folder you can write to") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ReidPruneError(f"{option} {out}: the folder is not writable; fix its permissions "
                             f"(chmod u+w {out}) or choose another folder")
    return out


@contextlib.contextmanager
def output_lock(out: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on the output folder ``out`` while a command writes into it.

    A second reidprune command given the same folder fails at once instead of interleaving
    its files with the first one's. The lock is released when the process ends, even on
    SIGKILL (an OS file lock, via the ``filelock`` library); the small ``.reidprune.lock`` file
    stays behind and is harmless. Under ``torchrun`` only rank 0 (which writes) takes it.
    """
    from filelock import FileLock, Timeout

    out = prepare_output_folder(out)
    if os.environ.get("RANK", "0") != "0":
        yield out
        return
    lock = FileLock(str(out / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ReidPruneError(f"another reidprune command is writing to {out} right now; wait for it to "
                             "finish or choose another --out") from None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise ReidPruneError(f"--out {out}: the folder is not writable ({exc.strerror}); fix its "
                                 "permissions or choose another folder") from None
        raise
    try:
        yield out
    finally:
        lock.release()


def check_input_size(backbone: str, height: int, width: int) -> None:
    """``--size`` must survive the backbone's downsampling."""
    halvings = BACKBONE_HALVINGS.get(backbone, DEFAULT_HALVINGS)
    smallest = 2 ** halvings
    if height < smallest or width < smallest:
        raise ReidPruneError(
            f"--size {height}x{width} is too small for backbone {backbone}: it halves the image {halvings} "
            f"times, so each side needs at least {smallest} pixels; use e.g. 64x32 (small preset), 128x64 (cpu) or 256x128")


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


def check_materialize_target(target: str | os.PathLike | None, dataset: str | os.PathLike,
                             out: str | os.PathLike | None = None) -> None:
    """``--materialize`` must be a new or empty folder outside the dataset and apart from ``--out``."""
    from reidprune.validation import check_outside, check_output_folder  # numpy: only when there is a target

    if target is None:
        return
    name = f"--materialize {target}"
    target_path = check_outside(target, dataset, name)
    if out is not None and target_path == Path(out).expanduser().resolve():
        raise ReidPruneError(f"{name} is the --out folder; give the pruned copy its own folder")
    check_output_folder(target_path, overwrite=False, how=None, name=name)
    for parent in target_path.parents:
        if parent.exists():
            if not os.access(parent, os.W_OK | os.X_OK) and not target_path.exists():
                raise ReidPruneError(f"{name}: {parent} is not writable; choose another folder")
            break


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
