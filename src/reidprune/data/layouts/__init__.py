"""Dataset layouts: turn a dataset folder into a :class:`~reidprune.data.table.SampleTable`.

``load_dataset(root)`` detects the layout from the folder's contents; ``layout=`` names it
instead (see :data:`LAYOUTS`; aliases such as ``"cuhk03"`` or ``"duke"`` map to the parser
they use, and the table records the canonical name, e.g. ``"market1501"``).

Files left out on purpose (Market-1501 junk images, bad names under ``on_bad_name="skip"``)
are reported by :func:`load_dataset` as one :class:`SkippedFilesWarning` per reason, with the
count; :func:`read_dataset` returns the counts (``LoadedDataset.skipped``) and the identity
names (``LoadedDataset.names``) without warning.

Each layout also knows how a pruned copy of it is written (``Layout.plan_copy``, used by
:mod:`reidprune.export.materialize`); :func:`get_layout` resolves every name and alias.
"""
from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reidprune.data.layout_names import ALIASES as _ALIASES
from reidprune.data.layouts.base import (
    CopyPlan, CopyRows, LoadedDataset, SkippedFilesWarning, dataset_root, list_subfolders,
)
from reidprune.data.layouts.cifar import find_cifar_folder, load_cifar100
from reidprune.data.layouts.cub import CUB_FILES, load_cub
from reidprune.data.layouts.folders import load_folders, plan_folders_copy, plan_generic_copy
from reidprune.data.layouts.market import load_market, plan_market_copy
from reidprune.data.layouts.msmt17 import load_msmt17, plan_msmt17_copy
from reidprune.data.layouts.veri import load_veri, plan_veri_copy
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError

__all__ = ["LAYOUTS", "CopyPlan", "CopyRows", "Layout", "LoadedDataset", "SkippedFilesWarning",
           "detect_layout", "get_layout", "load_counted", "load_dataset", "read_dataset"]


@dataclass(frozen=True)
class Layout:
    """One dataset layout.

    Attributes
    ----------
    name:
        Canonical name, stored in ``SampleTable.layout``.
    load:
        Parser ``load(root, **options) -> LoadedDataset``.
    detect:
        True when a folder looks like this layout (used by ``layout="auto"``).
    expects:
        What the folder must contain, for error messages and help text.
    plan_copy:
        Copy planner ``plan_copy(plan, rows, root, evaluation)``: names every file of a
        pruned, label-corrected copy (see :class:`~reidprune.data.layouts.base.CopyPlan`).
    copy_layout:
        The layout that copy is written in (``folders`` for layouts without a file structure
        of their own), so ``load_dataset(copy, copy_layout)`` reads it.
    """

    name: str
    load: Callable[..., LoadedDataset]
    detect: Callable[[Path], bool]
    expects: str
    plan_copy: Callable[[CopyPlan, CopyRows, Path, object], None]
    copy_layout: str

    def options(self) -> tuple[str, ...]:
        """Names of the keyword options the parser accepts."""
        parameters = inspect.signature(self.load).parameters.values()
        return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _has_subfolder(root: Path) -> bool:
    return bool(list_subfolders(root))


# Checked in this order by layout="auto"; "folders" is the fallback for any folder of folders.
_CANONICAL = (
    Layout("market1501", load_market, lambda root: (root / "bounding_box_train").is_dir(),
           "folders bounding_box_train/, query/, bounding_box_test/ with PPPP_cC*.jpg images",
           plan_market_copy, "market1501"),
    Layout("msmt17", load_msmt17, lambda root: (root / "list_train.txt").is_file(),
           "list_train.txt, list_query.txt, list_gallery.txt (path pid) and train/, test/",
           plan_msmt17_copy, "msmt17"),
    Layout("veri776", load_veri, lambda root: (root / "image_train").is_dir(),
           "folders image_train/, image_query/, image_test/ with VVVV_cCCC_*.jpg images",
           plan_veri_copy, "veri776"),
    Layout("cifar100", load_cifar100, lambda root: find_cifar_folder(root) is not None,
           "pickle files train, test, meta (in the folder or in cifar-100-python/)",
           plan_generic_copy, "folders"),
    Layout("cub200", load_cub, lambda root: all((root / name).is_file() for name in CUB_FILES),
           "images.txt, image_class_labels.txt, train_test_split.txt and images/",
           plan_generic_copy, "folders"),
    Layout("folders", load_folders, _has_subfolder,
           "one folder per identity (<identity>/<images>), or train/, query/, gallery/ of those",
           plan_folders_copy, "folders"),
)

SKIP_REASONS = {"junk": "junk image(s) (pid -1)",
                "bad_name": "file(s) whose name does not match the pattern",
                "not_a_file": "entries with an image name that are not readable files (dangling links, folders, "
                              "FIFOs)",
                "in_subfolder": "image(s) in sub-folders of the split folders (this layout reads only the "
                                "files directly inside bounding_box_train, query and bounding_box_test; "
                                "move them up to use them)"}

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in _CANONICAL}
LAYOUTS.update({alias: LAYOUTS[name] for name, aliases in _ALIASES.items() for alias in aliases})


def known_layouts() -> str:
    """One line describing every layout, its aliases and what it expects."""
    parts = []
    for layout in _CANONICAL:
        aliases = _ALIASES.get(layout.name, ())
        alias_text = f" (also {', '.join(aliases)})" if aliases else ""
        parts.append(f"{layout.name}{alias_text}: {layout.expects}")
    return "; ".join(parts)


def detect_layout(root: str | os.PathLike) -> str:
    """Canonical name of the layout ``root`` looks like.

    Parameters
    ----------
    root:
        Dataset folder.

    Raises
    ------
    ReidPruneError
        When no layout fits, listing the known layouts and what each expects.
    """
    path = dataset_root(root)
    for layout in _CANONICAL:
        if layout.detect(path):
            return layout.name
    raise ReidPruneError(f"cannot tell the layout of {path}; known layouts: {known_layouts()}")


def get_layout(name: str) -> Layout:
    """The :class:`Layout` for a canonical name or alias (case-insensitive)."""
    if not isinstance(name, str) or name.lower() not in LAYOUTS:
        raise ReidPruneError(f"unknown layout {name!r}; use 'auto' or one of: {known_layouts()}")
    return LAYOUTS[name.lower()]


def read_dataset(root: str | os.PathLike, layout: str = "auto", **options) -> LoadedDataset:
    """Parse a dataset folder; return the table, the skipped-file counts and identity names.

    Parameters
    ----------
    root:
        Dataset folder.
    layout:
        ``"auto"`` (detect from the folder's contents) or a name or alias from :data:`LAYOUTS`.
    **options:
        Parser options, e.g. ``pattern`` and ``on_bad_name`` (market1501, veri776) or
        ``include_val`` (msmt17). An option the layout does not take is an error.

    Returns
    -------
    LoadedDataset
    """
    auto = isinstance(layout, str) and layout.lower() == "auto"
    chosen = get_layout(detect_layout(root) if auto else layout)
    unknown = sorted(set(options) - set(chosen.options()))
    if unknown:
        accepted = ", ".join(chosen.options()) or "none"
        raise ReidPruneError(f"layout {chosen.name} has no option {unknown[0]!r} (options: "
                             f"{accepted})")
    return chosen.load(root, **options)


def load_dataset(root: str | os.PathLike, layout: str = "auto", **options) -> SampleTable:
    """Load a dataset folder as a :class:`SampleTable` (arguments as for :func:`read_dataset`).

    Returns
    -------
    SampleTable
        Files left out on purpose are reported as :class:`SkippedFilesWarning` (one per
        reason, with the count); use :func:`read_dataset` to get the counts as numbers.
    """
    return load_counted(root, layout, **options)[0]


def load_counted(root: str | os.PathLike, layout: str = "auto", **options) -> tuple[SampleTable, dict[str, int]]:
    """:func:`load_dataset` that also returns the skipped-file counts by reason (for the record).

    Each reason is also reported as a :class:`SkippedFilesWarning`, as :func:`load_dataset` does.
    """
    loaded = read_dataset(root, layout, **options)
    for reason, count in loaded.skipped.items():
        warnings.warn(f"{loaded.table.root}: skipped {count} {SKIP_REASONS.get(reason, reason)}",
                      SkippedFilesWarning, stacklevel=3)
    return loaded.table, dict(loaded.skipped)
