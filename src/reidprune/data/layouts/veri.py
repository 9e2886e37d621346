"""VeRi-776: ``image_train``, ``image_query``, ``image_test``; names ``VVVV_cCCC_...jpg``.

The vehicle id and the camera are read from the file name (``(\\d+)_c(\\d+)``), so the
Market-1501 folder parser reads it with other folder names and pattern.

A pruned copy (:func:`plan_veri_copy`) is written like Market-1501's, with ``image_train/``;
``image_query/`` and ``image_test/`` are linked unchanged and the ``*.txt`` files at the root
copied, except ``name_train.txt`` which is rewritten with the written training names.
"""
from __future__ import annotations

import os
import posixpath
from pathlib import Path

from reidprune.data.layouts.base import CopyPlan, CopyRows, LoadedDataset, plan_eval_folders
from reidprune.data.layouts.market import load_split_folders, plan_named_train_copy

VERI_PATTERN = r"(\d+)_c(\d+)"
VERI_FOLDERS = (("image_train", "train"), ("image_query", "query"), ("image_test", "gallery"))


def load_veri(root: str | os.PathLike, *, pattern: str = VERI_PATTERN,
              on_bad_name: str = "raise") -> LoadedDataset:
    """Read a VeRi-776 folder.

    Parameters
    ----------
    root:
        Folder holding ``image_train`` (required), ``image_query`` and ``image_test``
        (optional; ``image_test`` becomes the gallery split).
    pattern:
        Regular expression searched in each file name; group 1 is the vehicle id, group 2
        the camera (``c002`` -> 2).
    on_bad_name:
        ``"raise"`` (default) or ``"skip"`` (count in ``skipped["bad_name"]``) for file
        names the pattern cannot read.

    Returns
    -------
    LoadedDataset
        Rows sorted by path relative to ``root``.
    """
    return load_split_folders(root, "veri776", VERI_FOLDERS, pattern=pattern,
                              on_bad_name=on_bad_name)


def plan_veri_copy(plan: CopyPlan, rows: CopyRows, root: Path, evaluation=None) -> None:
    """Plan a VeRi-776 copy (see the module docstring and
    :class:`~reidprune.data.layouts.base.CopyPlan` for the arguments)."""
    final = plan_named_train_copy(plan, rows, VERI_FOLDERS[0][0])
    plan.texts["name_train.txt"] = "".join(posixpath.basename(path) + "\n" for path in final.values())
    plan_eval_folders(plan, root, tuple(folder for folder, split in VERI_FOLDERS if split != "train"))
    for source in sorted(root.glob("*.txt")):
        if source.name == "name_train.txt" or not source.is_file():
            continue  # rewritten from the written training names
        plan.add(source.name, source, source.name, str(source), mode="copy")
        plan.eval_files += 1
