"""Market-1501 style layouts: one folder per split, identity and camera in each file name.

Market-1501, DukeMTMC-reID and CUHK03-NP share this layout::

    root/bounding_box_train/0002_c1s1_000451_03.jpg   -> split "train"
    root/query/0001_c1s1_001051_00.jpg                -> split "query"
    root/bounding_box_test/0000_c1s1_000151_01.jpg    -> split "gallery"

The file name gives the identity (pid) and the camera (``([-\\d]+)_c(\\d+)``). Market-1501's
"junk" images (pid -1) are left out and counted in ``LoadedDataset.skipped["junk"]``; its
"distractors" (pid 0) are kept in the gallery, as the evaluation protocol expects.

A pruned copy (:func:`plan_market_copy`) has ``bounding_box_train/`` with the kept images; a
relabelled image gets the corrected id in place of the leading pid token of its name,
zero-padded like the original (``0005_c1s1_000451_03.jpg`` -> ``0012_c1s1_000451_03.jpg``);
``query/`` and ``bounding_box_test/`` are linked unchanged.
"""
from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

import numpy as np

from reidprune.data.layouts.base import (
    CopyPlan, CopyRows, LoadedDataset, check_choice, compile_name_pattern, dataset_root, is_image_name,
    list_image_names, list_subfolders, parse_id, plan_eval_folders,
)
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError

MARKET_PATTERN = r"([-\d]+)_c(\d+)"
MARKET_FOLDERS = (("bounding_box_train", "train"), ("query", "query"), ("bounding_box_test", "gallery"))
JUNK_PID = -1
# At most 19 digits: an int64 id (a longer run is no identity, and int() of it is costly).
_LEADING_ID = re.compile(r"(-?)([0-9]{1,19})(_.*)", re.DOTALL)


def load_market(root: str | os.PathLike, *, pattern: str = MARKET_PATTERN,
                on_bad_name: str = "raise") -> LoadedDataset:
    """Read a Market-1501 / DukeMTMC-reID / CUHK03-NP folder.

    Parameters
    ----------
    root:
        Folder holding ``bounding_box_train`` (required), ``query`` and ``bounding_box_test``
        (both optional, needed only for evaluation).
    pattern:
        Regular expression searched in each file name; group 1 is the pid (``-1`` marks junk),
        group 2 the camera.
    on_bad_name:
        ``"raise"`` (default): a file name the pattern cannot read is a :class:`ReidPruneError`
        naming the file. ``"skip"``: leave such files out and count them in
        ``skipped["bad_name"]``.

    Returns
    -------
    LoadedDataset
        Rows sorted by path relative to ``root``; ``camid`` is the camera number as written
        in the file name (``c1`` -> 1).
    """
    return load_split_folders(root, "market1501", MARKET_FOLDERS, pattern=pattern,
                              on_bad_name=on_bad_name)


def load_split_folders(root: str | os.PathLike, layout: str, folders: tuple[tuple[str, str], ...],
                       *, pattern: str, on_bad_name: str) -> LoadedDataset:
    """Read split folders whose image names carry identity and camera (Market-1501, VeRi-776).

    Parameters
    ----------
    root:
        Dataset folder.
    layout:
        Layout name stored in the table.
    folders:
        ``(folder name, split)`` pairs; the first one (the training folder) must exist.
    pattern:
        Regular expression with the pid in group 1 and the camera in group 2.
    on_bad_name:
        ``"raise"`` or ``"skip"`` for file names the pattern cannot read.
    """
    root = dataset_root(root)
    regex = compile_name_pattern(pattern)
    check_choice("on_bad_name", on_bad_name, ("raise", "skip"))
    train_folder = folders[0][0]
    if not (root / train_folder).is_dir():
        expected = ", ".join(name for name, _ in folders)
        raise ReidPruneError(f"{root} has no {train_folder} folder; this layout expects the "
                             f"folders {expected}")
    rows: list[tuple[str, int, int, str]] = []
    skipped = {"junk": 0, "bad_name": 0, "in_subfolder": 0}
    for folder, split in folders:
        if not (root / folder).is_dir():
            continue
        skipped["in_subfolder"] += count_images_in_subfolders(root / folder)
        for name in list_image_names(root / folder, skipped):
            parsed = parse_name(name, regex)
            if parsed is None:
                if on_bad_name == "raise":
                    raise ReidPruneError(
                        f"{root / folder / name}: file name does not match the pattern "
                        f"{pattern!r} (identity then _c and the camera, e.g. 0002_c1s1_000451_03.jpg); "
                        "rename or remove it")
                skipped["bad_name"] += 1
                continue
            pid, camid = parsed
            if pid == JUNK_PID:
                skipped["junk"] += 1
                continue
            rows.append((f"{folder}/{name}", pid, camid, split))
    rows.sort(key=lambda row: row[0])
    table = make_table(root, layout, [str(root / rel) for rel, *_ in rows],
                       [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows])
    return LoadedDataset(table, {k: v for k, v in skipped.items() if v})


def count_images_in_subfolders(folder) -> int:
    """Images below the sub-folders of ``folder``: this layout reads only the files directly in it."""
    count = 0
    for sub in list_subfolders(folder):
        for _, _, names in os.walk(folder / sub, onerror=lambda err: None):
            count += sum(is_image_name(name) for name in names)
    return count


def parse_name(name: str, regex: re.Pattern) -> tuple[int, int] | None:
    """``(pid, camid)`` read from a file name, or None when the name does not fit.

    A pid may be ``-1`` (junk); any other negative, non-numeric or absurdly long value makes
    the name unreadable rather than a crash later on.
    """
    match = regex.search(name)
    if match is None:
        return None
    pid_text, cam_text = match.group(1), match.group(2)
    if pid_text is None or cam_text is None:
        return None
    pid = JUNK_PID if pid_text == "-1" else parse_id(pid_text)
    camid = parse_id(cam_text)
    if pid is None or camid is None:
        return None
    return pid, camid


def with_leading_id(name: str, new_id: int, where: str) -> str:
    """``name`` with its leading id token replaced by ``new_id``, zero-padded like the token.

    Parameters
    ----------
    name:
        A file name such as ``0005_c1s1_000451_03.jpg``.
    new_id:
        The identity the file must carry.
    where:
        The row it comes from, for the message.
    """
    match = _LEADING_ID.fullmatch(name)
    if match is None:
        raise ReidPruneError(f"{where}: file name {name!r} does not start with an identity "
                             "number and '_' (like 0005_c1s1_000451_03.jpg), so it cannot carry "
                             "the corrected identity; use the folders layout")
    sign, digits, rest = match.groups()
    if int(sign + digits) == new_id:
        return name
    width = len(digits)
    return f"{'-' if new_id < 0 else ''}{abs(new_id):0{width}d}{rest}"


def plan_named_train_copy(plan: CopyPlan, rows: CopyRows, folder: str) -> dict[int, str]:
    """Plan the kept rows into ``folder``, each name carrying its corrected id.

    Parameters
    ----------
    plan, rows:
        The copy being planned and its training rows.
    folder:
        The layout's training folder (``bounding_box_train``, ``image_train``).

    Returns
    -------
    dict
        Row index -> final output path, in row order.
    """
    kept = np.flatnonzero(rows.keep).tolist()
    names = {i: posixpath.basename(rows.rel[i]) for i in kept}
    new = {i: names[i] if rows.corrected[i] == rows.pid[i]
           else with_leading_id(names[i], int(rows.corrected[i]), rows.where(i))
           for i in kept}
    return plan.claim_training(rows, {i: f"{folder}/{new[i]}" for i in kept},
                               {i: new[i] != names[i] for i in kept})


def plan_market_copy(plan: CopyPlan, rows: CopyRows, root: Path, evaluation=None) -> None:
    """Plan a Market-1501 copy (see the module docstring and
    :class:`~reidprune.data.layouts.base.CopyPlan` for the arguments)."""
    plan_named_train_copy(plan, rows, MARKET_FOLDERS[0][0])
    plan_eval_folders(plan, root, tuple(folder for folder, split in MARKET_FOLDERS if split != "train"))
