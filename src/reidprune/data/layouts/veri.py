"""VeRi-776: ``image_train``, ``image_query``, ``image_test``; names ``VVVV_cCCC_...jpg``.

The vehicle id and the camera are read from the file name (``(\\d+)_c(\\d+)``), so the
Market-1501 folder parser reads it with other folder names and pattern.
"""
from __future__ import annotations

import os

from reidprune.data.layouts.base import LoadedDataset
from reidprune.data.layouts.market import load_split_folders

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
