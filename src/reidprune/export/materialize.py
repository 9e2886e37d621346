"""Write a pruned, label-corrected copy of a dataset in the dataset's own layout.

Any ReID framework can then train on the copy unchanged: the kept training images are
linked (or copied) into the layout's training folder, each carrying the identity it should
be trained on, and the evaluation images are linked unchanged. What a copy of each layout
looks like is the layout's own knowledge (``Layout.plan_copy`` in
:mod:`reidprune.data.layouts`: Market-1501 family, VeRi-776, MSMT17, folders; cifar100 and
cub200 are written as a folders-layout copy). This module is the engine: it plans every
output file, claims the names one at a time and writes them.

Every output also holds ``reidprune_manifest.csv`` (see :mod:`reidprune.export.manifest`;
its paths are relative to the SOURCE dataset root) and ``README.txt`` saying what was done.
Two output files that would get the same name (a renamed file meeting an existing one) are
kept apart by a deterministic ``_dup1``, ``_dup2``, ... before the extension; the file that
kept its own name wins, and the README lists every suffixed file.

Everything is written into a temporary sibling of the output folder that is renamed into
place at the end, so a failure (a full disk included) leaves nothing half-written.
"""
from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np

from reidprune.atomic import atomic_path
from reidprune.data.layouts import CopyRows, detect_layout, get_layout
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.export.copy_result import MaterializeResult, readme_text
from reidprune.export.linking import LINK_MODES, check_link, place
from reidprune.export.manifest import read_manifest, resolve_sources, write_manifest
from reidprune.select.selection import OUTLIER, PRUNED, RELABELLED, Selection
from reidprune.validation.paths import check_outside, check_output_folder, relative_path

__all__ = ["LINK_MODES", "MANIFEST_NAME", "README_NAME", "MaterializeResult", "materialize",
           "materialize_from_manifest"]

MANIFEST_NAME = "reidprune_manifest.csv"
README_NAME = "README.txt"


@dataclass(frozen=True)
class _Job:
    out: str  # relative to the output folder
    source: Path | None
    pixels: np.ndarray | None = None
    mode: str | None = None  # overrides the link mode (side files are always copied)


@dataclass
class _Plan:
    """Every file to write, with names claimed one at a time so collisions get a suffix."""

    jobs: list[_Job] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    # The files reidprune writes itself at the root are never given to an image.
    taken: set[str] = field(default_factory=lambda: {MANIFEST_NAME, README_NAME, "list_train.txt",
                                                     "name_train.txt"})
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    renamed: int = 0
    eval_files: int = 0
    missing_eval: list[str] = field(default_factory=list)
    eval_not_written: int = 0

    def add(self, out: str, source: Path | None, src_rel: str, where: str,
            pixels: np.ndarray | None = None, mode: str | None = None) -> str:
        """Claim ``out`` for one file; on a collision the first free ``_dupN`` name."""
        out = relative_path(out, where, "output path", "the output folder")
        if out == ".":
            raise ReidPruneError(f"{where}: the output path would be the output folder itself")
        final, k = out, 0
        while final in self.taken or final in self.texts:
            k += 1
            final = _dup_name(out, k)
        self.taken.add(final)
        if k:
            self.duplicates.append((src_rel, final))
        self.jobs.append(_Job(final, source, pixels, mode))
        return final

    def claim_training(self, rows: CopyRows, intended: dict[int, str], moved: dict[int, bool],
                       pixels: np.ndarray | None = None) -> dict[int, str]:
        """Add the kept rows; return each row's final output path (in ``intended``'s order).

        Rows that keep their name claim it first, so when a relabelled file meets one of them
        it is the relabelled file that gets the ``_dupN`` suffix, whatever the row order.
        """
        order = [i for i in intended if not moved[i]] + [i for i in intended if moved[i]]
        final = {}
        for i in order:
            final[i] = self.add(intended[i], None if pixels is not None else rows.source[i],
                                rows.rel[i], rows.where(i),
                                pixels=None if pixels is None else pixels[i])
            self.renamed += moved[i] or final[i] != intended[i]
        return {i: final[i] for i in intended}

    def mirror(self, root: Path, names: list[str]) -> None:
        """Add every file under ``root/<name>`` unchanged, at the same relative path."""
        for name in names:
            for dirpath, dirnames, filenames in os.walk(root / name):
                dirnames.sort()
                for filename in sorted(filenames):
                    source = Path(dirpath) / filename
                    rel = PurePosixPath(source.relative_to(root)).as_posix()
                    self.add(rel, source, rel, str(source))
                    self.eval_files += 1


def materialize(table: SampleTable, selection: Selection, out_dir: str | os.PathLike,
                link: str = "hardlink", overwrite: bool = False,
                entropy: np.ndarray | None = None,
                max_score: np.ndarray | None = None) -> MaterializeResult:
    """Write the kept, corrected training images and the unchanged evaluation images.

    Parameters
    ----------
    table:
        The whole dataset; ``table.layout`` picks the output layout (see the module
        docstring). Evaluation images of Market-1501, VeRi-776, MSMT17 and the folders split
        form are linked from their folders on disk (all files, as the dataset has them);
        for other layouts the table's query / gallery rows are written.
    selection:
        Index-aligned with ``table.split_table("train")``; ``kept`` and ``relabelled`` images
        are written, carrying identity ``table.classes[selection.labels[i]]``.
    out_dir:
        The folder to create. Must not exist, be empty, or ``overwrite`` must be True; must
        not be the dataset root, inside it, or contain it.
    link:
        ``"hardlink"`` (default; no extra disk space, falls back to a copy where a hard link
        is impossible, counted in ``fallback_copies``), ``"copy"`` or ``"symlink"`` (absolute
        targets).
    overwrite:
        Replace a non-empty ``out_dir`` (whole, only once the new copy is complete).
    entropy, max_score:
        Optional per-training-sample soft-label statistics for the manifest (NaN if absent).

    Returns
    -------
    MaterializeResult
        The output folder (``result.path``; the result also works with ``os.fspath``) and
        the counts.
    """
    link = check_link(link)
    train_rows = table.rows("train")
    if len(train_rows) != len(selection):
        raise ReidPruneError(f"the selection has {len(selection)} samples but {table.root} has "
                             f"{len(train_rows)} training images; use the selection made on "
                             "this dataset")
    train = table.select(train_rows)
    labels = np.asarray(selection.labels, dtype=np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= train.num_classes):
        raise ReidPruneError(f"selection.labels must lie in 0..{train.num_classes - 1}, got "
                             f"{labels.min()}..{labels.max()}; was the selection made on this "
                             "table?")
    rows = CopyRows(source=[Path(p) for p in train.path],
                 rel=[PurePosixPath(Path(p)).as_posix() for p in train.relative_paths()],
                 pid=train.pid, corrected=train.classes[labels],
                 status=np.asarray(selection.status, dtype=str), origin="", pixels=train.pixels)
    evaluation = table.select(np.flatnonzero(table.split != "train"))
    out = _prepare_out_dir(out_dir, table.root, overwrite)

    def record(tmp: Path) -> None:
        write_manifest(tmp / MANIFEST_NAME, train, selection, entropy, max_score)

    return _materialize_rows(rows, table.root, table.layout, evaluation, out, link, record)


def materialize_from_manifest(manifest_path: str | os.PathLike,
                              dataset_root: str | os.PathLike, out_dir: str | os.PathLike,
                              layout: str | None = None, link: str = "hardlink",
                              overwrite: bool = False) -> MaterializeResult:
    """Materialise from a manifest file (possibly edited by a user) instead of a selection.

    Every manifest path must lie inside ``dataset_root``: absolute paths, ``..`` components
    and paths whose resolved location (symlinks followed) leaves the root are refused, as is
    any output path that would leave ``out_dir``. Rows with status ``pruned`` or ``outlier``
    are not written; ``kept`` and ``relabelled`` rows are written with their
    ``corrected_id``. The manifest is copied into the output as ``reidprune_manifest.csv``.

    Parameters
    ----------
    manifest_path:
        A CSV file in the format of :func:`reidprune.export.manifest.write_manifest`.
    dataset_root:
        The dataset the manifest's paths are relative to.
    out_dir:
        The folder to create (same rules as :func:`materialize`).
    layout:
        Output layout (``market1501``, ``veri776``, ``msmt17``, ``folders``, ...). ``None`` or
        ``"auto"`` recognises it from the root the way the loaders do
        (:func:`reidprune.data.layouts.detect_layout`).
    link, overwrite:
        As in :func:`materialize`.

    Returns
    -------
    MaterializeResult
    """
    link = check_link(link)
    manifest = read_manifest(manifest_path)
    root = Path(dataset_root).expanduser()
    if not root.is_dir():
        raise ReidPruneError(f"dataset root {root} is not a folder; give the folder the "
                             "manifest's paths are relative to")
    root = root.resolve()
    layout = detect_layout(root) if layout in (None, "auto") else layout
    rows = CopyRows(source=resolve_sources(manifest, root), rel=manifest.path.tolist(),
                 pid=manifest.original_id, corrected=manifest.corrected_id,
                 status=manifest.status, origin=str(manifest_path), line=manifest.line)
    out = _prepare_out_dir(out_dir, root, overwrite)

    def record(tmp: Path) -> None:
        shutil.copyfile(manifest_path, tmp / MANIFEST_NAME)

    return _materialize_rows(rows, root, layout, None, out, link, record)


def _prepare_out_dir(out_dir: str | os.PathLike, root: Path, overwrite: bool) -> Path:
    out = Path(out_dir).expanduser().resolve()
    check_outside(out, root, f"output folder {out}")
    return check_output_folder(out, overwrite)


def _check_sources(rows: CopyRows) -> None:
    if rows.pixels is not None:
        return
    for i in np.flatnonzero(rows.keep):
        if not rows.source[i].is_file():
            raise ReidPruneError(f"{rows.where(int(i))}: image {rows.source[i]} does not exist or "
                                 "is not a file; reload the dataset (in-memory datasets such "
                                 "as cifar need the table, not a manifest)")


def _materialize_rows(rows: CopyRows, root: Path, layout: str, evaluation: SampleTable | None,
                      out: Path, link: str,
                      record: Callable[[Path], None]) -> MaterializeResult:
    """Plan every output file, then write them all into a temporary folder renamed onto ``out``.

    ``record(tmp)`` writes the manifest into the temporary folder.
    """
    _check_sources(rows)
    kind = get_layout(layout)
    plan = _Plan()
    kind.plan_copy(plan, rows, root, evaluation)
    counts = {name: int((rows.status == name).sum())
              for name in ("kept", RELABELLED, PRUNED, OUTLIER)}
    result = MaterializeResult(
        path=out, layout=kind.copy_layout, kept=counts["kept"],
        relabelled=counts[RELABELLED], pruned=counts[PRUNED], outlier=counts[OUTLIER],
        renamed=plan.renamed, duplicates=tuple(plan.duplicates), eval_files=plan.eval_files,
        fallback_copies=0, missing_eval=tuple(plan.missing_eval),
        eval_not_written=plan.eval_not_written)
    try:
        with atomic_path(out, directory=True) as tmp:
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; the copy is an ordinary dataset
            fallback = _write_jobs(plan.jobs, tmp, link)
            for rel, text in plan.texts.items():
                (tmp / rel).write_text(text, encoding="utf-8")
            record(tmp)
            result = dataclasses.replace(result, fallback_copies=fallback)
            (tmp / README_NAME).write_text(readme_text(result, root, layout, link, MANIFEST_NAME), encoding="utf-8")
    except OSError as exc:  # a full disk is already a ReidPruneError from atomic_path
        raise ReidPruneError(f"cannot write {out}: {exc}; check the permissions and the source "
                             "files") from exc
    return result


def _dup_name(rel: str, k: int) -> str:
    stem, ext = posixpath.splitext(rel)
    return f"{stem}_dup{k}{ext}"


def _write_jobs(jobs: list[_Job], tmp: Path, link: str) -> int:
    """Write every job under ``tmp``; return how many hard links fell back to copies."""
    from PIL import Image

    made: set[Path] = set()
    fallback = 0
    for job in jobs:
        target = tmp / job.out
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        if job.pixels is not None:
            Image.fromarray(np.ascontiguousarray(job.pixels)).save(target, format="PNG")
        else:
            fallback += place(job.source, target, job.mode or link)
    return fallback
