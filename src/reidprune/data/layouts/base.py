"""What every dataset layout parser shares: the result type and small file-listing helpers.

A layout parser is a function ``load_xxx(root, **options) -> LoadedDataset``. It only lists
and parses files (names, list files, pickles); it never decodes images, so loading even a
large dataset's table takes seconds.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError

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


def list_image_names(folder: Path) -> list[str]:
    """Sorted names of the image files directly inside ``folder`` (sub-folders are not entered)."""
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if is_image_name(e.name) and e.is_file()]
    except OSError as err:
        raise ReidPruneError(f"cannot list {folder}: {err.strerror or err}; check its permissions")
    return sorted(names)


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
    normal = os.path.normpath(rel)
    if os.path.isabs(rel) or normal == ".." or normal.startswith(".." + os.sep) or "\0" in rel:
        raise ReidPruneError(f"{where}: path {rel!r} must be relative and stay inside the dataset "
                             "folder; fix the line")
    return normal
