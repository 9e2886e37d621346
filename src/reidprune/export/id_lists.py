"""Plain ``path pid camid`` list files that torchreid, FastReID or any loop can read in three lines.

``prune`` and ``run`` write, beside the paper's lists in ``OUT/lists/``:

``train.txt``
    the KEPT training images only (status ``kept`` or ``relabelled``), in index order, each with
    the identity to train on: the corrected id for a relabelled image, else the original id.
``query.txt``, ``gallery.txt`` (``test.txt`` for layouts with a test split)
    every evaluation image of the dataset, unchanged, with its original id.

One line per image, three fields separated by single spaces::

    bounding_box_train/0002_c1s1_000451_03.jpg 2 1

* ``path`` is RELATIVE to the dataset root (the folder given to ``prune`` / ``run``, recorded as
  ``"dataset"`` in ``selection.json``), with ``/`` separators, so the lists stay valid when the
  dataset moves; join it with the root to open the file. A path may contain spaces (never a line
  break), so split a line from the right: ``path, pid, camid = line.rstrip("\\n").rsplit(" ", 2)``.
* ``pid`` is the identity in the dataset's own numbering (not 0..C-1): frameworks relabel
  training ids themselves.
* ``camid`` is the camera as the dataset gives it (Market-1501: the ``c<N>`` number, 1-based;
  ``-1`` for layouts without cameras).

In-memory datasets (CIFAR-100 batches) have no image files, so no lists are written for them.
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np

from reidprune.atomic import write_text
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.select.selection import Selection

TRAIN_LIST = "train.txt"
EVAL_SPLITS = ("query", "gallery", "test")


def write_id_lists(out_dir: str | os.PathLike, train: SampleTable, selection: Selection,
                   eval_table: SampleTable | None = None) -> dict[str, Path]:
    """Write ``train.txt`` (the kept set, corrected ids) and the evaluation lists, each atomically.

    Parameters
    ----------
    out_dir:
        Folder to write into (created if needed); files of the same names are replaced.
    train:
        The TRAINING split table; row ``i`` is sample ``i`` of ``selection``.
    selection:
        What happens to every training sample; its ``labels`` give the corrected ids.
    eval_table:
        The whole dataset table (or None): its query / gallery / test rows are listed unchanged.

    Returns
    -------
    dict[str, Path]
        Written files keyed ``"train_list"``, ``"query_list"``, ``"gallery_list"``,
        ``"test_list"`` (only the splits present); empty for in-memory datasets.
    """
    if len(train) != len(selection):
        raise ReidPruneError(f"the training table has {len(train)} rows but the selection {len(selection)}; "
                             "was the selection made on this dataset?")
    if train.pixels is not None:
        return {}
    out_dir = Path(out_dir)
    keep = selection.kept_indices
    corrected = train.classes[np.asarray(selection.labels, dtype=np.int64)[keep]]
    files = {"train_list": out_dir / TRAIN_LIST}
    write_text(files["train_list"], _lines(train.select(keep), corrected))
    if eval_table is not None and eval_table.pixels is None:
        for split in EVAL_SPLITS:
            rows = eval_table.rows(split)
            if len(rows):
                part = eval_table.select(rows)
                files[f"{split}_list"] = out_dir / f"{split}.txt"
                write_text(files[f"{split}_list"], _lines(part, part.pid))
    return files


def _lines(table: SampleTable, pids: np.ndarray) -> str:
    lines = []
    for rel, pid, camid in zip(table.relative_paths(), pids, table.camid):
        rel = PurePosixPath(Path(rel)).as_posix()
        if "\n" in rel or "\r" in rel:
            raise ReidPruneError(f"image path {rel!r} contains a line break; rename the file")
        lines.append(f"{rel} {int(pid)} {int(camid)}\n")
    return "".join(lines)


def read_id_list(path: str | os.PathLike, root: str | os.PathLike | None = None) -> list[tuple[str, int, int]]:
    """``(path, pid, camid)`` tuples of a list file, paths joined with ``root`` when given.

    Raises :class:`ReidPruneError` naming the line of the first malformed entry.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReidPruneError(f"cannot read list file {path}: {exc}") from exc
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.rsplit(" ", 2)
        try:
            rel, pid, camid = fields[0], int(fields[1]), int(fields[2])
        except (IndexError, ValueError):
            raise ReidPruneError(f"{path}, line {number}: expected 'path pid camid' (integers after the "
                                 f"path), got {line!r}") from None
        items.append((os.path.join(root, rel) if root is not None else rel, pid, camid))
    return items
