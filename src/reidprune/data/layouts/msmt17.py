"""MSMT17: list files name every image and its identity.

::

    root/list_train.txt     0000/0000_000_01_0303morning_0015_0.jpg 0     (images in root/train/)
    root/list_val.txt       same form, read only with include_val=True    (images in root/train/)
    root/list_query.txt     0000/0000_000_01_0303morning_0036_0.jpg 0     (images in root/test/)
    root/list_gallery.txt   same form                                      (images in root/test/)

The camera is the third ``_``-separated field of the file name (``0000_000_01_...`` -> 1).
A path is looked up under the list's image folder first, then relative to ``root`` itself.
Rows keep the order of the lists (train, val, query, gallery).

A pruned copy (:func:`plan_msmt17_copy`) has the kept images at their original relative path
(``train/...``), ``list_train.txt`` rewritten with the corrected pids, ``list_query.txt`` and
``list_gallery.txt`` copied and ``test/`` (or ``mask_test_v2/``) linked unchanged.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reidprune.data.layouts.base import (
    CopyPlan, CopyRows, LoadedDataset, dataset_root, inside_root, parse_id, plan_eval_folders,
    read_lines,
)
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError
from reidprune.validation.paths import relative_path

# (list file, split, folder its paths are relative to)
MSMT17_LISTS = (
    ("list_train.txt", "train", "train"),
    ("list_val.txt", "train", "train"),
    ("list_query.txt", "query", "test"),
    ("list_gallery.txt", "gallery", "test"),
)
# Evaluation folders: V1 has test/, V2 mask_test_v2/; either one is complete.
MSMT17_EVAL_FOLDERS = ("test", "mask_test_v2")


def load_msmt17(root: str | os.PathLike, *, include_val: bool = False) -> LoadedDataset:
    """Read an MSMT17 folder from its list files.

    Parameters
    ----------
    root:
        Folder holding ``list_train.txt`` (required), ``list_query.txt`` and
        ``list_gallery.txt`` (optional) and the ``train/`` and ``test/`` image folders.
    include_val:
        Also train on ``list_val.txt`` (which must then exist). The paper trains on
        ``list_train.txt`` only, the default.

    Returns
    -------
    LoadedDataset
        ``camid`` is the camera number from the file name.

    Raises
    ------
    ReidPruneError
        Naming the list file and line for an unreadable line, a missing image, a path outside
        ``root`` or an image listed twice (in one list or across lists).
    """
    root = dataset_root(root)
    if not isinstance(include_val, bool):
        raise ReidPruneError(f"include_val must be True or False, got {include_val!r}")
    if not (root / "list_train.txt").is_file():
        raise ReidPruneError(f"{root} has no list_train.txt; the msmt17 layout expects "
                             "list_train.txt, list_query.txt, list_gallery.txt and train/, test/")
    seen: dict[str, str] = {}
    rows: list[tuple[str, int, int, str]] = []
    for list_name, split, image_folder in MSMT17_LISTS:
        list_path = root / list_name
        if list_name == "list_val.txt" and not include_val:
            continue
        if not list_path.is_file():
            if list_name == "list_val.txt":
                raise ReidPruneError(f"include_val=True but {list_path} does not exist")
            continue
        for number, line in enumerate(read_lines(list_path), start=1):
            if not line.strip():
                continue
            where = f"{list_path}:{number}"
            path, pid, camid = parse_list_line(line, root, image_folder, where)
            if path in seen:
                raise ReidPruneError(f"{where}: image {path} is listed twice (first at "
                                     f"{seen[path]}); remove the duplicate line")
            seen[path] = where
            rows.append((path, pid, camid, split))
    return LoadedDataset(make_table(root, "msmt17", [r[0] for r in rows], [r[1] for r in rows],
                                    [r[2] for r in rows], [r[3] for r in rows]))


def parse_list_line(line: str, root: Path, image_folder: str, where: str) -> tuple[str, int, int]:
    """``(absolute image path, pid, camid)`` from one ``path pid`` line of an MSMT17 list.

    Parameters
    ----------
    line:
        The line, with or without its line ending.
    root:
        Resolved dataset root.
    image_folder:
        Folder under ``root`` the list's paths are relative to (``train`` or ``test``).
    where:
        ``list file:line`` for error messages.
    """
    parts = line.strip().rsplit(None, 1)
    pid = parse_id(parts[1]) if len(parts) == 2 else None
    if pid is None:
        raise ReidPruneError(f"{where}: expected 'relative/path pid' with a non-negative integer "
                             f"pid, got {line.strip()!r}; fix the line")
    rel = inside_root(parts[0], where)
    fields = os.path.basename(rel).split("_")
    camid = parse_id(fields[2]) if len(fields) >= 3 else None
    if camid is None:
        raise ReidPruneError(f"{where}: cannot read the camera from {rel!r} (expected a file name "
                             "like 0000_000_01_0303morning_0015_0.jpg, camera in the third field)")
    for candidate in (root / image_folder / rel, root / rel):
        if os.path.isfile(candidate):
            return str(candidate), pid, camid
    raise ReidPruneError(f"{where}: image {rel!r} not found under {root / image_folder} or {root}; "
                         "restore the file or remove the line")


def plan_msmt17_copy(plan: CopyPlan, rows: CopyRows, root: Path, evaluation=None) -> None:
    """Plan an MSMT17 copy (see the module docstring and
    :class:`~reidprune.data.layouts.base.CopyPlan` for the arguments)."""
    listed = listed_paths(root / "list_train.txt")
    lines = []
    for i in np.flatnonzero(rows.keep).tolist():
        rel = relative_path(rows.rel[i], rows.where(i))
        parts = rel.split("/")
        # Keep the list's own convention (paths relative to train/ in MSMT17_V1).
        drop = next((k for k in range(len(parts)) if "/".join(parts[k:]) in listed),
                    1 if len(parts) > 1 else 0)
        final = plan.add(rel, rows.source[i], rows.rel[i], rows.where(i))
        plan.renamed += final != rel
        lines.append(f"{'/'.join(final.split('/')[drop:])} {int(rows.corrected[i])}\n")
    plan.texts["list_train.txt"] = "".join(lines)
    for name in ("list_query.txt", "list_gallery.txt"):
        if (root / name).is_file():
            plan.add(name, root / name, name, str(root), mode="copy")
            plan.eval_files += 1
        else:
            plan.missing_eval.append(name)
    plan_eval_folders(plan, root, MSMT17_EVAL_FOLDERS, any_one=True)


def listed_paths(list_file: Path) -> set[str]:
    """The paths a list file names (first field of each line); empty when it does not exist."""
    if not list_file.is_file():
        return set()
    with open(list_file, encoding="utf-8", errors="replace") as handle:
        return {line.split()[0] for line in handle if line.split()}
