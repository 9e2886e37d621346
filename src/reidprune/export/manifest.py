"""The CSV manifest: one row per training image saying what selection did to it.

The file is plain CSV (comma separated, ``"`` quoting, UTF-8) with the header::

    index,path,original_id,camera,assigned_label,corrected_id,entropy,max_score,status

``index`` is the row of the training split (0..n-1, the index every score uses), ``path`` is
relative to the dataset root with ``/`` separators, ``original_id`` is the identity the dataset
gives the image, ``assigned_label`` the training label (0..C-1) before selection,
``corrected_id`` the identity to train on (in the original-id space, so equal to
``original_id`` for an image that was neither mislabeled nor relabelled), ``entropy`` and
``max_score`` the soft-label statistics (``nan`` when they were not computed) and ``status``
one of ``kept``, ``relabelled``, ``pruned``, ``outlier``.

Users may edit the file (drop rows to ``pruned``, fix a ``corrected_id``) and materialise a
dataset from it, so :func:`read_manifest` validates every field and names the line and column
of the first problem.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from reidprune.atomic import write_text
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.select.selection import STATUSES, Selection
from reidprune.validation.arrays import as_labels
from reidprune.validation.paths import relative_path

HEADER = ("index", "path", "original_id", "camera", "assigned_label", "corrected_id",
          "entropy", "max_score", "status")

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT64_MAX = 2 ** 63 - 1
# A few of the differences are enough to recognise what went wrong; the counts say how many.
_SHOW = 5


@dataclass(frozen=True, eq=False)
class Manifest:
    """The columns of a manifest file, one numpy array per column, row ``i`` = index ``i``.

    Attributes
    ----------
    index, original_id, camera, assigned_label, corrected_id:
        int64 arrays.
    path:
        str array, relative to the dataset root, ``/`` separators.
    entropy, max_score:
        float64 arrays; NaN where the value was not computed.
    status:
        str array of ``kept``, ``relabelled``, ``pruned`` or ``outlier``.
    line:
        int64 array: the line of the file each row ends on (for error messages).
    source:
        The file the manifest was read from (empty for one built in memory).
    """

    index: np.ndarray
    path: np.ndarray
    original_id: np.ndarray
    camera: np.ndarray
    assigned_label: np.ndarray
    corrected_id: np.ndarray
    entropy: np.ndarray
    max_score: np.ndarray
    status: np.ndarray
    line: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.index)

    @property
    def keep_mask(self) -> np.ndarray:
        """True for the rows a materialised dataset contains (``kept`` and ``relabelled``)."""
        return (self.status == "kept") | (self.status == "relabelled")


def write_manifest(path: str | os.PathLike, table: SampleTable, selection: Selection,
                   entropy: np.ndarray | None = None, max_score: np.ndarray | None = None) -> Path:
    """Write the manifest of one selection as CSV, atomically.

    Parameters
    ----------
    path:
        The CSV file to write; replaced whole if it exists.
    table:
        The TRAINING split table (``full_table.split_table("train")``), row ``i`` = sample ``i``
        of ``selection``.
    selection:
        What happens to every training sample; ``selection.labels`` are mapped back to
        original ids through ``table.classes`` for the ``corrected_id`` column.
    entropy, max_score:
        Optional per-sample soft-label entropy and maximum (length ``len(table)``); written as
        ``nan`` when ``None``.

    Returns
    -------
    Path
        ``path``.
    """
    n = len(table)
    _check_training_table(table, selection)
    entropy = _optional_floats(entropy, n, "entropy")
    max_score = _optional_floats(max_score, n, "max_score")
    labels, assigned = (as_labels(np.asarray(values, dtype=np.int64), n, table.num_classes, name,
                                  per="one per training row; was the selection made on this table?")
                        for name, values in (("selection.labels", selection.labels),
                                             ("selection.assigned", selection.assigned)))
    corrected = table.classes[labels] if n else np.zeros(0, dtype=np.int64)
    rel = [PurePosixPath(Path(p)).as_posix() for p in table.relative_paths()]
    broken = next((p for p in rel if "\r" in p or "\n" in p), None)
    if broken is not None:  # one CSV record per line keeps line numbers meaningful
        raise ReidPruneError(f"image path {broken!r} contains a line break; rename the file")

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for i in range(n):
        writer.writerow((i, rel[i], int(table.pid[i]), int(table.camid[i]), int(assigned[i]),
                         int(corrected[i]), repr(float(entropy[i])), repr(float(max_score[i])),
                         str(selection.status[i])))
    write_text(path, buffer.getvalue())
    return Path(path)


def _check_training_table(table: SampleTable, selection: Selection) -> None:
    if len(table) != len(selection):
        raise ReidPruneError(f"the table has {len(table)} rows but the selection {len(selection)}; "
                             "pass the training split table (table.split_table('train'))")
    if len(table) and not (table.split == "train").all():
        raise ReidPruneError("the table has non-training rows; pass table.split_table('train')")


def _optional_floats(values, n: int, name: str) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n,):
        raise ReidPruneError(f"{name} must have one value per training sample ({n}), "
                             f"got shape {values.shape}")
    return values


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate a manifest written by :func:`write_manifest` (possibly hand-edited).

    Parameters
    ----------
    path:
        The CSV file. A UTF-8 byte-order mark (as spreadsheet programs write) and blank lines
        are accepted.

    Returns
    -------
    Manifest

    Raises
    ------
    ReidPruneError
        Naming the file, line and column of the first problem: a header other than
        :data:`HEADER`, a field that is not an integer / a float, an infinite float (``nan``
        is accepted and means "not computed"), an unknown status, an ``index`` out of order,
        a duplicate or empty path.
    """
    path = Path(path)
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    columns: dict[str, list] = {name: [] for name in HEADER}
    lines: list[int] = []
    seen: dict[str, int] = {}
    header_seen = False
    try:
        for row in reader:
            if not row:
                continue  # blank lines, e.g. left by a spreadsheet at the end
            if not header_seen:
                _check_header(path, reader.line_num, row)
                header_seen = True
                continue
            _parse_row(path, reader.line_num, row, len(lines), columns, seen)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise ReidPruneError(f"{path}, line {reader.line_num}: not valid CSV ({exc}); "
                             "fix the quoting or regenerate the manifest") from exc
    if not header_seen:
        raise ReidPruneError(f"{path} is empty; expected the header {','.join(HEADER)}")
    return _to_manifest(columns, lines, str(path))


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ReidPruneError(f"manifest {path} does not exist; check the path") from exc
    except IsADirectoryError as exc:
        raise ReidPruneError(f"manifest {path} is a folder; give the CSV file") from exc
    except OSError as exc:
        raise ReidPruneError(f"cannot read manifest {path}: {exc.strerror}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReidPruneError(f"{path} is not UTF-8 text (byte {exc.start}); "
                             "save the manifest as UTF-8 CSV") from exc


def _check_header(path: Path, line: int, row: list[str]) -> None:
    if tuple(row) != HEADER:
        raise ReidPruneError(f"{path}, line {line}: header is {','.join(row)!r}, expected "
                             f"{','.join(HEADER)!r}; keep the header exactly as written")


def _parse_row(path: Path, line: int, row: list[str], position: int,
               columns: dict[str, list], seen: dict[str, int]) -> None:
    if len(row) != len(HEADER):
        raise ReidPruneError(f"{path}, line {line}: {len(row)} columns, expected {len(HEADER)} "
                             f"({','.join(HEADER)}); quote fields that contain commas")

    def fail(column: str, problem: str) -> ReidPruneError:
        return ReidPruneError(f"{path}, line {line}, column {column!r}: {problem}")

    values = dict(zip(HEADER, row))
    for name in ("index", "original_id", "camera", "assigned_label", "corrected_id"):
        columns[name].append(_parse_int(values[name], lambda p, n=name: fail(n, p)))
    for name in ("entropy", "max_score"):
        columns[name].append(_parse_float(values[name], lambda p, n=name: fail(n, p)))
    if columns["index"][-1] != position:
        raise fail("index", f"is {columns['index'][-1]}, expected {position}: rows must be "
                            "numbered 0..n-1 in order; do not reorder or delete rows, set their "
                            "status to 'pruned' instead")
    if columns["assigned_label"][-1] < 0:
        raise fail("assigned_label", "a training label cannot be negative")
    status = values["status"]
    if status not in STATUSES:
        raise fail("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    rel = values["path"]
    if not rel:
        raise fail("path", "is empty; every row needs the image path relative to the dataset root")
    if "\x00" in rel:
        raise fail("path", "contains a NUL character")
    if rel in seen:
        raise fail("path", f"{rel!r} already appears on line {seen[rel]}; each image once")
    seen[rel] = line
    columns["path"].append(rel)
    columns["status"].append(status)


def _parse_int(text: str, fail) -> int:
    if not _INT.fullmatch(text):
        raise fail(f"{text!r} is not an integer")
    if len(text.lstrip("+-").lstrip("0")) > 19:  # checked before int() so a huge field stays cheap
        raise fail(f"{text[:30]!r}... is out of the 64-bit integer range")
    value = int(text)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise fail(f"{text!r} is out of the 64-bit integer range")
    return value


def _parse_float(text: str, fail) -> float:
    if text.lower() == "nan":
        return math.nan  # "not computed", as write_manifest writes it
    if not _FLOAT.fullmatch(text):
        raise fail(f"{text!r} is not a number (write 'nan' for a missing value)")
    value = float(text)
    if not math.isfinite(value):
        raise fail(f"{text!r} is not finite")
    return value


def _to_manifest(columns: dict[str, list], lines: list[int], source: str) -> Manifest:
    ints = {name: np.asarray(columns[name], dtype=np.int64)
            for name in ("index", "original_id", "camera", "assigned_label", "corrected_id")}
    floats = {name: np.asarray(columns[name], dtype=np.float64)
              for name in ("entropy", "max_score")}
    return Manifest(path=np.asarray(columns["path"], dtype=str),
                    status=np.asarray(columns["status"], dtype=str),
                    line=np.asarray(lines, dtype=np.int64), source=source, **ints, **floats)


def check_manifest_matches(manifest: Manifest, table: SampleTable) -> None:
    """Check that a manifest describes the training rows of ``table``, in the same order.

    Parameters
    ----------
    manifest:
        From :func:`read_manifest`.
    table:
        The dataset as loaded now (the whole table or its training split; only the training
        rows are compared).

    Raises
    ------
    ReidPruneError
        Listing the first few differing paths and the counts: manifest images missing from
        the folder, folder images not in the manifest, images whose identity changed, or the
        same images in another order.
    """
    train = table.split_table("train") if (table.split != "train").any() else table
    rel = np.array([PurePosixPath(Path(p)).as_posix() for p in train.relative_paths()], dtype=str)
    folder = dict(zip(rel.tolist(), train.pid.tolist()))
    listed = dict(zip(manifest.path.tolist(), manifest.original_id.tolist()))
    missing = [p for p in listed if p not in folder]
    extra = [p for p in folder if p not in listed]
    changed = [p for p in listed if p in folder and folder[p] != listed[p]]
    where = manifest.source or "the manifest"
    if missing or extra or changed:
        parts = []
        for what, paths in (("in the manifest but missing from the folder", missing),
                            ("in the folder but not in the manifest", extra),
                            ("with a different identity", changed)):
            if paths:
                shown = ", ".join(paths[:_SHOW]) + (", ..." if len(paths) > _SHOW else "")
                parts.append(f"{len(paths)} {what} ({shown})")
        raise ReidPruneError(f"{where} does not match the training images under {table.root}: "
                             + "; ".join(parts) + "; use the dataset the manifest was made from")
    if not np.array_equal(rel, manifest.path):
        moved = rel[rel != manifest.path][:_SHOW].tolist()
        raise ReidPruneError(f"{where} lists the training images under {table.root} in another "
                             f"order (first: {', '.join(moved)}); scores are index-aligned, "
                             "regenerate the manifest")


def resolve_sources(manifest: Manifest, root: Path) -> list[Path]:
    """Absolute source of every manifest row, refusing any that leaves ``root``.

    Absolute paths, ``..`` components and paths whose resolved location (symlinks followed)
    leaves ``root`` (resolved) are a :class:`ReidPruneError` naming the manifest line.
    """
    sources = []
    for i, rel in enumerate(manifest.path.tolist()):
        where = f"{manifest.source}, line {int(manifest.line[i])}"
        relative_path(rel, where)
        try:
            resolved = (root / rel).resolve()
        except (OSError, RuntimeError) as exc:  # symlink loops
            raise ReidPruneError(f"{where}: cannot resolve {rel!r} ({exc})") from exc
        if not resolved.is_relative_to(root):
            raise ReidPruneError(f"{where}: {rel!r} leads to {resolved}, outside the dataset "
                                 f"root {root} (through a symlink); refusing to read it")
        sources.append(resolved)
    return sources
