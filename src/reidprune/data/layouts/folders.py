"""One folder per identity, for datasets that follow no published layout.

Two forms::

    root/<identity>/<images>                  every image is in split "train"

    root/train/<identity>/<images>            split "train"
    root/query/<identity>/<images>            split "query"   (optional)
    root/gallery/<identity>/<images>          split "gallery" (optional)

The split form is chosen when ``root/train`` holds at least one sub-folder. Images may sit in
sub-folders of an identity folder (for example one per camera); they all belong to that
identity. When every identity folder name is a plain non-negative integer it is the pid;
otherwise identities are numbered 0, 1, ... in sorted order of their folder names. Either way
``LoadedDataset.names`` maps each pid back to its folder name. The camera is read from
``_c<digits>`` in the file name when present, else -1. Nothing keys on bare file names: the
same file name under two identity folders is two rows.

A pruned copy (:func:`plan_folders_copy`) has the kept images under
``<corrected identity folder>/<path inside it>`` (``train/<identity>/...`` in the split form,
whose ``query/`` and ``gallery/`` are linked unchanged). Layouts without a file structure of
their own (``cifar100``, ``cub200``) are written as a folders-layout copy by
:func:`plan_generic_copy`.
"""
from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

import numpy as np

from reidprune.data.layouts.base import (
    CopyPlan, CopyRows, LoadedDataset, check_file_name, dataset_root, is_image_name, list_image_names,
    list_subfolders, parse_id,
)
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError
from reidprune.validation.paths import relative_path

SPLIT_FOLDERS = ("train", "query", "gallery")
EVAL_SPLITS = SPLIT_FOLDERS[1:]
CAMERA_PATTERN = re.compile(r"_c(\d+)")


def load_folders(root: str | os.PathLike) -> LoadedDataset:
    """Read a one-folder-per-identity dataset.

    Parameters
    ----------
    root:
        Folder holding identity folders, or ``train/`` (plus optional ``query/`` and
        ``gallery/``) holding identity folders.

    Returns
    -------
    LoadedDataset
        Rows sorted by path relative to ``root``; ``names[pid]`` is the identity folder name.

    Raises
    ------
    ReidPruneError
        When images lie where identity folders are expected, when a folder other than
        train/query/gallery sits next to ``train/``, when two folder names give the same
        integer pid (``7`` and ``007``), or when there are no training images.
    """
    root = dataset_root(root)
    splits = split_folders(root)
    identities = {split: list_subfolders(base) for split, base in splits.items()}
    _refuse_split_folders_as_identities(root, identities.get("train", []))
    for split, base in splits.items():
        stray = list_image_names(base)
        if stray:
            raise ReidPruneError(f"{base / stray[0]}: images must be inside identity folders "
                                 f"(e.g. {base}/<identity>/{stray[0]}); move them")
    pids = identity_pids(sorted({name for names in identities.values() for name in names}))
    rows: list[tuple[str, int, int, str]] = []
    skipped: dict[str, int] = {}
    for split, base in splits.items():
        for identity in identities[split]:
            for rel in images_under(base / identity, skipped):
                camera = CAMERA_PATTERN.search(os.path.basename(rel))
                camid = parse_id(camera.group(1)) if camera else None
                rel_to_root = os.path.relpath(base / identity / rel, root).replace(os.sep, "/")
                rows.append((rel_to_root, pids[identity], -1 if camid is None else camid, split))
    rows.sort(key=lambda row: row[0])
    table = make_table(root, "folders", [str(root / rel) for rel, *_ in rows],
                       [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    return LoadedDataset(table, skipped, names={pid: name for name, pid in pids.items()})


# split folders of the other layouts: read as identity folders they would make a nonsense set
_OTHER_SPLITS = {"query", "gallery", "test", "val", "bounding_box_test", "bounding_box_train", "image_query",
                 "image_test", "image_train"}


def _refuse_split_folders_as_identities(root: Path, names: list[str]) -> None:
    odd = sorted(set(names) & _OTHER_SPLITS)
    if odd and not (root / "train").is_dir():
        market = "bounding_box_train" if {"query", "bounding_box_test"} & set(names) else None
        veri = "image_train" if {"image_query", "image_test"} & set(names) else None
        missing = market or veri or "train"
        raise ReidPruneError(
            f"{root} has {', '.join(n + '/' for n in odd)} but no {missing}/: it looks like a dataset without its "
            f"training split, not a folder of identities; add {root / missing} (the images to score and prune)")


def split_folders(root: Path) -> dict[str, Path]:
    """Split name -> folder whose sub-folders are identities."""
    if not is_split_form(root):
        return {"train": root}
    unexpected = [name for name in list_subfolders(root) if name not in SPLIT_FOLDERS]
    if unexpected:
        raise ReidPruneError(f"{root / unexpected[0]}: next to train/ only query/ and gallery/ are "
                             "read; move or rename this folder")
    return {split: root / split for split in SPLIT_FOLDERS if (root / split).is_dir()}


def is_split_form(root: Path) -> bool:
    """True when ``root/train`` holds identity folders (the split form)."""
    train = root / "train"
    return train.is_dir() and bool(list_subfolders(train))


def identity_pids(names: list[str]) -> dict[str, int]:
    """Folder name -> pid: the integer itself when every name is one, else the sorted rank."""
    numbers = [parse_id(name) for name in names]
    if not names or any(number is None for number in numbers):
        return {name: index for index, name in enumerate(names)}
    owner: dict[int, str] = {}
    for name, number in zip(names, numbers):
        if number in owner:
            raise ReidPruneError(f"identity folders {owner[number]!r} and {name!r} both mean pid "
                                 f"{number}; merge or rename one of them")
        owner[number] = name
    return dict(zip(names, numbers))


def images_under(folder: Path, skipped: dict[str, int] | None = None) -> list[str]:
    """Image paths under ``folder`` (any depth, hidden entries skipped), relative and sorted.

    Names are checked as in :func:`~reidprune.data.layouts.base.list_image_names`; entries that
    are not regular files are counted in ``skipped["not_a_file"]``.
    """
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if not is_image_name(name):
                continue
            if not os.path.isfile(os.path.join(current, name)):  # a dangling link or a FIFO
                if skipped is not None:
                    skipped["not_a_file"] = skipped.get("not_a_file", 0) + 1
                continue
            check_file_name(Path(current), name)
            found.append(os.path.relpath(os.path.join(current, name), folder))
    return sorted(found)


def plan_folders_copy(plan: CopyPlan, rows: CopyRows, root: Path, evaluation=None) -> None:
    """Plan a folders-layout copy of a folders dataset (see the module docstring and
    :class:`~reidprune.data.layouts.base.CopyPlan` for the arguments)."""
    depth = 2 if is_split_form(root) else 1  # leading path components naming the identity
    folder_of = _identity_folders(rows, depth)
    intended = {}
    for i in np.flatnonzero(rows.keep).tolist():
        target = int(rows.corrected[i])
        if target not in folder_of:
            raise ReidPruneError(f"{rows.where(i)}: corrected id {target} has no identity folder "
                                 "among the training images; use an id of an existing identity")
        inner = _split_identity(relative_path(rows.rel[i], rows.where(i)), depth)[1]
        intended[i] = posixpath.join(folder_of[target], inner)
    plan.claim_training(rows, intended, {i: intended[i] != rows.rel[i] for i in intended})
    if depth == 2:  # the split form: query/ and gallery/ (both optional) are linked whole
        plan.mirror(root, [name for name in EVAL_SPLITS if (root / name).is_dir()])


def _split_identity(rel: str, depth: int) -> tuple[str, str]:
    """``(identity folder, path inside it)``; camera sub-folders stay in the inner part."""
    parts = rel.split("/")
    k = min(depth, len(parts) - 1)
    return "/".join(parts[:k]), "/".join(parts[k:])


def _identity_folders(rows: CopyRows, depth: int) -> dict[int, str]:
    """The identity folder holding most images of each pid (ties: the first name)."""
    votes: dict[int, dict[str, int]] = {}
    for rel, pid in zip(rows.rel, rows.pid.tolist()):
        folder = _split_identity(rel, depth)[0]
        votes.setdefault(pid, {}).setdefault(folder, 0)
        votes[pid][folder] += 1
    return {pid: min(count, key=lambda f: (-count[f], f)) for pid, count in votes.items()}


def plan_generic_copy(plan: CopyPlan, rows: CopyRows, root: Path, evaluation=None) -> None:
    """Plan a folders-layout copy of a layout without its own file structure (cifar, cub).

    ``train/<pid>/<file>`` plus ``query/`` and ``gallery/`` rows of ``evaluation`` (a ``test``
    split has no place there and is counted in ``plan.eval_not_written``); pids are
    zero-padded to one width so that name order is number order; in-memory pixels are
    encoded as PNG (``train#00042`` -> ``train_00042.png``).

    Parameters
    ----------
    plan, rows:
        The copy being planned and its training rows.
    root:
        The source dataset root (unused).
    evaluation:
        The dataset's non-training rows (a SampleTable), or None to write none.
    """
    kept = np.flatnonzero(rows.keep).tolist()
    pids = [int(rows.corrected[i]) for i in kept]
    if evaluation is not None:
        pids += evaluation.pid.tolist()
    width = max((len(str(abs(p))) for p in pids), default=1)
    intended = {i: f"train/{_pid_folder(int(rows.corrected[i]), width)}/"
                   f"{_file_name(rows.rel[i], rows.pixels is not None)}" for i in kept}
    plan.claim_training(rows, intended, {i: bool(rows.corrected[i] != rows.pid[i]) for i in kept},
                        rows.pixels)
    if evaluation is None:
        return
    for j, (path, pid, split) in enumerate(zip(evaluation.path, evaluation.pid.tolist(),
                                               evaluation.split.tolist())):
        if split not in EVAL_SPLITS:
            plan.eval_not_written += 1
            continue
        pixels = None if evaluation.pixels is None else evaluation.pixels[j]
        name = _file_name(path, pixels is not None)
        plan.add(f"{split}/{_pid_folder(pid, width)}/{name}",
                 None if pixels is not None else Path(path), str(path), f"{split} row {j}",
                 pixels=pixels)
        plan.eval_files += 1


def _pid_folder(pid: int, width: int) -> str:
    return f"{'-' if pid < 0 else ''}{abs(pid):0{width}d}"


def _file_name(path: str, has_pixels: bool) -> str:
    name = posixpath.basename(str(path).replace("\\", "/"))
    if has_pixels:  # in-memory rows are named like "train#00042"
        return re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".png"
    return name
