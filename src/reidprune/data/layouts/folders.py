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
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from reidprune.data.layouts.base import (
    LoadedDataset, dataset_root, is_image_name, list_image_names, list_subfolders, parse_id,
)
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError

SPLIT_FOLDERS = ("train", "query", "gallery")
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
    for split, base in splits.items():
        stray = list_image_names(base)
        if stray:
            raise ReidPruneError(f"{base / stray[0]}: images must be inside identity folders "
                                 f"(e.g. {base}/<identity>/{stray[0]}); move them")
    pids = identity_pids(sorted({name for names in identities.values() for name in names}))
    rows: list[tuple[str, int, int, str]] = []
    for split, base in splits.items():
        for identity in identities[split]:
            for rel in images_under(base / identity):
                camera = CAMERA_PATTERN.search(os.path.basename(rel))
                camid = parse_id(camera.group(1)) if camera else None
                rel_to_root = os.path.relpath(base / identity / rel, root).replace(os.sep, "/")
                rows.append((rel_to_root, pids[identity], -1 if camid is None else camid, split))
    rows.sort(key=lambda row: row[0])
    table = make_table(root, "folders", [str(root / rel) for rel, *_ in rows],
                       [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    return LoadedDataset(table, names={pid: name for name, pid in pids.items()})


def split_folders(root: Path) -> dict[str, Path]:
    """Split name -> folder whose sub-folders are identities."""
    train = root / "train"
    if not (train.is_dir() and list_subfolders(train)):
        return {"train": root}
    unexpected = [name for name in list_subfolders(root) if name not in SPLIT_FOLDERS]
    if unexpected:
        raise ReidPruneError(f"{root / unexpected[0]}: next to train/ only query/ and gallery/ are "
                             "read; move or rename this folder")
    return {split: root / split for split in SPLIT_FOLDERS if (root / split).is_dir()}


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


def images_under(folder: Path) -> list[str]:
    """Image paths under ``folder`` (any depth, hidden entries skipped), relative and sorted."""
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if is_image_name(name):
                found.append(os.path.relpath(os.path.join(current, name), folder))
    return sorted(found)
