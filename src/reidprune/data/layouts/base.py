"""What every dataset layout parser shares: the result type and small file-listing helpers.

A layout parser is a function ``load_xxx(root, **options) -> LoadedDataset``. It only lists
and parses files (names, list files, pickles); it never decodes images, so loading even a
large dataset's table takes seconds.

A layout also knows how a pruned copy of it is written: a copy planner
``plan_xxx_copy(plan, rows, root, evaluation)`` names every output file on a
:class:`CopyPlan` (the engine in :mod:`reidprune.export.materialize` claims the names,
resolves collisions and writes the files).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.validation.paths import relative_path

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

# Ids above this cannot round-trip through int64 arithmetic safely; a longer digit run in a
# file name is a naming accident, not an identity.
MAX_ID = 2 ** 62


class SkippedFilesWarning(UserWarning):
    """Issued when files were skipped on purpose (Market-1501 junk, bad names, unreadable images).

    The message carries the count; filter on this category to silence or capture it.
    """


@dataclass(frozen=True)
class LoadedDataset:
    """A parsed dataset: the table plus what the parser left out and the identity names.

    Attributes
    ----------
    table:
        The :class:`~reidprune.data.table.SampleTable`.
    skipped:
        Number of files left out on purpose, by reason (``"junk"``: Market-1501 pid -1 images;
        ``"bad_name"``: names that did not match the pattern under ``on_bad_name="skip"``).
        Reasons with a zero count are absent.
    names:
        Human-readable name of each pid where the layout has one (identity folder names of the
        ``folders`` layout, CIFAR-100 fine label names, CUB class names); empty otherwise.
    """

    table: SampleTable
    skipped: dict[str, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)


def dataset_root(root: str | os.PathLike) -> Path:
    """``root`` resolved to an absolute path; a missing folder is a :class:`ReidPruneError`."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ReidPruneError(f"dataset folder {path} does not exist or is not a folder; "
                             "pass the folder that holds the dataset")
    return path.resolve()


def is_image_name(name: str) -> bool:
    """True for non-hidden file names with an image extension (case-insensitive)."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def list_image_names(folder: Path, skipped: dict[str, int] | None = None) -> list[str]:
    """Sorted names of the image files directly inside ``folder`` (sub-folders are not entered).

    A name that is not valid UTF-8 or holds a control character (a line break breaks every
    line-based export) is an error naming the file. Entries with an image name that are not
    regular files (a dangling link, a folder, a FIFO) are left out and counted in
    ``skipped["not_a_file"]``.
    """
    try:
        with os.scandir(folder) as entries:
            images = [e for e in entries if is_image_name(e.name)]
            names = [e.name for e in images if _regular_file(e)]
    except OSError as err:
        raise ReidPruneError(f"cannot list {folder}: {err.strerror or err}; check its permissions")
    if skipped is not None and len(names) < len(images):
        skipped["not_a_file"] = skipped.get("not_a_file", 0) + len(images) - len(names)
    for name in names:
        check_file_name(folder, name)
    return sorted(names)


def _regular_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file() and entry.stat().st_size >= 0  # stat follows links: a dangling one raises
    except OSError:
        return False


def check_file_name(folder: Path, name: str) -> None:
    """Refuse a file name the exports cannot write: not UTF-8, or with a control character."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(name).decode("utf-8", "backslashreplace")
        raise ReidPruneError(f"{folder}/{shown}: the file name is not valid UTF-8; rename it (e.g. with "
                             "`convmv -f latin1 -t utf8`) or move it out of the dataset") from None
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ReidPruneError(f"{folder}/{name!r}: the file name holds a control character (a line break or "
                             "tab breaks the line-based lists); rename it")


def list_subfolders(folder: Path) -> list[str]:
    """Sorted names of the non-hidden sub-folders of ``folder``."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
    except OSError as err:
        raise ReidPruneError(f"cannot list {folder}: {err.strerror or err}; check its permissions")
    return sorted(names)


def parse_id(text: str) -> int | None:
    """``text`` as a non-negative integer id (ASCII digits only), or None."""
    if not re.fullmatch(r"[0-9]+", text):
        return None
    value = int(text)
    return value if value < MAX_ID else None


def compile_name_pattern(pattern: str) -> re.Pattern:
    """Compile a file-name pattern whose first two groups are the identity and the camera."""
    if not isinstance(pattern, str):
        raise ReidPruneError(f"pattern must be a regular expression string, got {pattern!r}")
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ReidPruneError(f"pattern {pattern!r} is not a valid regular expression ({err})")
    if compiled.groups < 2:
        raise ReidPruneError(f"pattern {pattern!r} needs two groups: (identity) then (camera), "
                             r"e.g. '([-\d]+)_c(\d+)'")
    return compiled


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a :class:`ReidPruneError`."""
    if value not in choices:
        raise ReidPruneError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file, split on ``\\n`` only so line numbers match an editor's."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ReidPruneError(f"cannot read {path}: {err.strerror or err}; check that it exists")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ReidPruneError(f"{path} is not UTF-8 text (byte {err.start}); re-save it as UTF-8")
    return text.split("\n")


def inside_root(rel: str, where: str) -> str:
    """``rel`` if it is a relative path that stays inside the dataset root.

    Paths outside the root would later be exported as ``../...`` or absolute paths, so they
    are refused here. ``where`` names the list file and line for the message.
    """
    return relative_path(rel, where)


@dataclass(frozen=True)
class CopyRows:
    """The training rows a pruned copy is written from, from a table or from a manifest.

    Attributes
    ----------
    source:
        Absolute path of each image.
    rel:
        Path relative to the dataset root, ``/`` separators.
    pid:
        Identity the dataset gives each image.
    corrected:
        Identity to train on (original-id space).
    status:
        ``kept``, ``relabelled``, ``pruned`` or ``outlier``.
    origin:
        ``""`` for a table, the manifest file otherwise.
    line:
        Manifest line of each row (None for a table).
    pixels:
        In-memory images (cifar), else None.
    """

    source: list[Path]
    rel: list[str]
    pid: np.ndarray
    corrected: np.ndarray
    status: np.ndarray
    origin: str
    line: np.ndarray | None = None
    pixels: np.ndarray | None = None

    def where(self, i: int) -> str:
        """Where row ``i`` comes from, for messages."""
        if self.line is not None:
            return f"{self.origin}, line {int(self.line[i])}"
        return f"training row {i} ({self.rel[i]})"

    @property
    def keep(self) -> np.ndarray:
        """Bool mask of the rows to write (kept or relabelled)."""
        return (self.status == "kept") | (self.status == "relabelled")


class CopyPlan(Protocol):
    """What a copy planner may do: claim output files, write texts and count what it did.

    A layout's planner is ``plan_copy(plan, rows, root, evaluation)``: ``plan`` this object,
    ``rows`` the :class:`CopyRows` to write, ``root`` the source dataset root and
    ``evaluation`` the dataset's non-training rows (a SampleTable; layouts that link their
    evaluation folders from disk ignore it, and it is None for a copy made from a manifest).
    """

    texts: dict[str, str]  # output path -> text written there (list files)
    renamed: int
    eval_files: int
    missing_eval: list[str]
    eval_not_written: int

    def add(self, out: str, source: Path | None, src_rel: str, where: str,
            pixels: np.ndarray | None = None, mode: str | None = None) -> str:
        """Claim ``out`` for one file (a ``_dupN`` suffix on a collision); return the final path."""

    def claim_training(self, rows: CopyRows, intended: dict[int, str], moved: dict[int, bool],
                       pixels: np.ndarray | None = None) -> dict[int, str]:
        """Claim the kept rows' paths (unmoved rows first); return each row's final path."""

    def mirror(self, root: Path, names: list[str]) -> None:
        """Add every file under ``root/<name>`` unchanged, at the same relative path."""


def plan_eval_folders(plan: CopyPlan, root: Path, names: tuple[str, ...], any_one: bool = False) -> None:
    """Mirror a layout's evaluation folders and record the missing ones.

    Parameters
    ----------
    plan:
        The copy being planned.
    root:
        The source dataset root.
    names:
        The layout's evaluation folders, in the order they are written.
    any_one:
        True when any one of ``names`` is complete (MSMT17 V1 ``test/`` or V2
        ``mask_test_v2/``): only the first is reported missing when none exists.
    """
    present = [name for name in names if (root / name).is_dir()]
    if any_one:
        plan.missing_eval.extend([] if present else [names[0]])
    else:
        plan.missing_eval.extend(name for name in names if name not in present)
    plan.mirror(root, present)
