"""Write a pruned, label-corrected copy of a dataset in the dataset's own layout.

Any ReID framework can then train on the copy unchanged: the kept training images are
linked (or copied) into the layout's training folder, each carrying the identity it should
be trained on, and the evaluation images are linked unchanged.

=================  ==========================================================================
layout             what is written
=================  ==========================================================================
Market-1501 family ``bounding_box_train/`` with the kept images; a relabelled image gets the
(market1501,       corrected id in place of the leading pid token of its name, zero-padded
market, duke,      like the original (``0005_c1s1_000451_03.jpg`` ->
dukemtmc, cuhk03,  ``0012_c1s1_000451_03.jpg``); ``query/`` and ``bounding_box_test/``
cuhk03-np)         linked unchanged.
veri776            the same with ``image_train/`` (``VVVV_cCCC_...``); ``image_query/`` and
                   ``image_test/`` linked unchanged; ``*.txt`` at the root copied, except
                   ``name_train.txt`` which is rewritten with the written training names.
msmt17             kept images at their original relative path (``train/...``),
                   ``list_train.txt`` rewritten with the corrected pids, ``list_query.txt``
                   and ``list_gallery.txt`` copied, ``test/`` (or ``mask_test_v2/``) linked.
folders            kept images under ``<corrected identity folder>/<path inside it>``
                   (``train/<identity>/...`` in the split form, whose ``query/`` and
                   ``gallery/`` are linked unchanged).
anything else      (``cifar100``, ``cub200``, ...) a folders-layout copy:
                   ``train/<pid>/<file>`` (plus ``query/`` and ``gallery/`` rows; a
                   ``test`` split has no place there and is not written), pids zero-padded to
                   one width so that name order is number order; in-memory pixels are
                   encoded as PNG (``train#00042`` -> ``train_00042.png``).
=================  ==========================================================================

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
import errno
import os
import posixpath
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable

import numpy as np

from reidprune.atomic import atomic_path
from reidprune.data.layouts import detect_layout
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.export.manifest import Manifest, read_manifest, write_manifest
from reidprune.select.selection import OUTLIER, PRUNED, RELABELLED, Selection

LINK_MODES = ("hardlink", "copy", "symlink")
MANIFEST_NAME = "reidprune_manifest.csv"
README_NAME = "README.txt"

# Hard links are impossible across filesystems (EXDEV), on filesystems without them
# (EOPNOTSUPP), past the link limit (EMLINK), and for files of other users under
# fs.protected_hardlinks (EPERM): copy instead and count it.
_NO_HARDLINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP,
                getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
_TRAIN_FOLDER = {"market1501": "bounding_box_train", "veri776": "image_train"}
_EVAL_FOLDERS = {"market1501": ("query", "bounding_box_test"),
                 "veri776": ("image_query", "image_test"),
                 "msmt17": ("test", "mask_test_v2")}
_MSMT_COPIED_LISTS = ("list_query.txt", "list_gallery.txt")
# The folders layout knows train/, query/ and gallery/ only; a "test" split is not written.
_FOLDERS_EVAL_SPLITS = ("query", "gallery")
# At most 19 digits: an int64 id (a longer run is no identity, and int() of it is costly).
_LEADING_ID = re.compile(r"(-?)([0-9]{1,19})(_.*)", re.DOTALL)


@dataclass(frozen=True)
class MaterializeResult:
    """What :func:`materialize` wrote.

    It stands in for the output path where a path-like is accepted (``os.fspath(result)``,
    ``Path(result)``, ``str(result)`` give the folder); use ``result.path`` for ``/``.

    Attributes
    ----------
    path:
        The output folder.
    layout:
        The layout written, as the loaders name it: ``market1501``, ``veri776``, ``msmt17``
        or ``folders`` (also for layouts without their own file structure, such as
        ``cifar100``), so ``load_dataset(result.path, result.layout)`` reads the copy.
    kept, relabelled, pruned, outlier:
        Training images per status; ``kept + relabelled`` images were written.
    renamed:
        Written training images whose name or identity folder differs from the source
        (corrected identity or ``_dup`` suffix).
    duplicates:
        ``(source path relative to the dataset root, output path)`` of every file that got a
        ``_dupN`` suffix.
    eval_files:
        Evaluation images (query, gallery, test) and side files linked or copied unchanged.
    fallback_copies:
        Files copied because a hard link was impossible (other filesystem, not permitted).
    missing_eval:
        Evaluation folders or list files of the layout that the source dataset does not have.
    eval_not_written:
        Evaluation rows left out because the output layout has no place for them (the
        ``test`` split of cifar / cub written in the folders layout).
    """

    path: Path
    layout: str
    kept: int
    relabelled: int
    pruned: int
    outlier: int
    renamed: int
    duplicates: tuple[tuple[str, str], ...]
    eval_files: int
    fallback_copies: int
    missing_eval: tuple[str, ...] = ()
    eval_not_written: int = 0

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    @property
    def written(self) -> int:
        """Training images written (kept + relabelled)."""
        return self.kept + self.relabelled


@dataclass(frozen=True)
class _Rows:
    """The training rows to materialise, from a table or from a manifest."""

    source: list[Path]  # absolute path of each image
    rel: list[str]  # path relative to the dataset root, "/" separators
    pid: np.ndarray
    corrected: np.ndarray  # identity to train on, original-id space
    status: np.ndarray
    origin: str  # "" for a table, the manifest file otherwise
    line: np.ndarray | None = None
    pixels: np.ndarray | None = None

    def where(self, i: int) -> str:
        if self.line is not None:
            return f"{self.origin}, line {int(self.line[i])}"
        return f"training row {i} ({self.rel[i]})"

    @property
    def keep(self) -> np.ndarray:
        return (self.status == "kept") | (self.status == RELABELLED)


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
        out = _safe_relative(out, where, "output path")
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
    link = _check_link(link)
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
    rows = _Rows(source=[Path(p) for p in train.path],
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
        Output layout (``market1501``, ``veri776``, ``msmt17``, ``folders``, ...). ``None``
        recognises it from the root the way the loaders do
        (:func:`reidprune.data.layouts.detect_layout`).
    link, overwrite:
        As in :func:`materialize`.

    Returns
    -------
    MaterializeResult
    """
    link = _check_link(link)
    manifest = read_manifest(manifest_path)
    root = Path(dataset_root).expanduser()
    if not root.is_dir():
        raise ReidPruneError(f"dataset root {root} is not a folder; give the folder the "
                             "manifest's paths are relative to")
    root = root.resolve()
    layout = layout or detect_layout(root)
    rows = _Rows(source=_resolve_inside(manifest, root), rel=manifest.path.tolist(),
                 pid=manifest.original_id, corrected=manifest.corrected_id,
                 status=manifest.status, origin=str(manifest_path), line=manifest.line)
    out = _prepare_out_dir(out_dir, root, overwrite)

    def record(tmp: Path) -> None:
        shutil.copyfile(manifest_path, tmp / MANIFEST_NAME)

    return _materialize_rows(rows, root, layout, None, out, link, record)


def _check_link(link: str) -> str:
    if link not in LINK_MODES:
        raise ReidPruneError(f"unknown link mode {link!r}; choose one of {', '.join(LINK_MODES)}")
    return link


def _family(layout: str) -> str:
    key = re.sub(r"[-_ ]", "", layout.lower())
    if key.startswith(("market", "duke", "cuhk03")):
        return "market1501"
    if key.startswith("veri"):
        return "veri776"
    if key.startswith("msmt"):
        return "msmt17"
    if key in ("folders", "folder", "imagefolder"):
        return "folders"
    return "generic"


def _prepare_out_dir(out_dir: str | os.PathLike, root: Path, overwrite: bool) -> Path:
    out = Path(out_dir).expanduser().resolve()
    root = Path(root).resolve()
    if out == root or root in out.parents or out in root.parents:
        raise ReidPruneError(f"output folder {out} overlaps the dataset {root}; write the copy "
                             "somewhere outside the dataset folder")
    if out.exists() and not out.is_dir():
        raise ReidPruneError(f"output {out} exists and is not a folder; choose another path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ReidPruneError(f"output folder {out} is not empty; give --materialize a new or empty "
                             "folder")
    return out


def _safe_relative(rel: str, where: str, what: str) -> str:
    """``rel`` as a clean relative posix path, refused if absolute or with ``..``."""
    base = "the output folder" if what == "output path" else "the dataset root"
    if not rel or "\x00" in rel:
        raise ReidPruneError(f"{where}: empty or invalid {what} {rel!r}")
    if rel.startswith(("/", "\\")) or PureWindowsPath(rel).drive or os.path.isabs(rel):
        raise ReidPruneError(f"{where}: {what} {rel!r} is absolute; paths must be relative "
                             f"to {base}")
    parts = re.split(r"[\\/]", rel)
    if ".." in parts:
        raise ReidPruneError(f"{where}: {what} {rel!r} contains '..'; paths must stay inside "
                             f"{base}")
    return posixpath.normpath(rel)


def _resolve_inside(manifest: Manifest, root: Path) -> list[Path]:
    """Absolute source of every manifest row, refusing any that leaves ``root``."""
    sources = []
    for i, rel in enumerate(manifest.path.tolist()):
        where = f"{manifest.source}, line {int(manifest.line[i])}"
        _safe_relative(rel, where, "path")
        try:
            resolved = (root / rel).resolve()
        except (OSError, RuntimeError) as exc:  # symlink loops
            raise ReidPruneError(f"{where}: cannot resolve {rel!r} ({exc})") from exc
        if not resolved.is_relative_to(root):
            raise ReidPruneError(f"{where}: {rel!r} leads to {resolved}, outside the dataset "
                                 f"root {root} (through a symlink); refusing to read it")
        sources.append(resolved)
    return sources


def _check_sources(rows: _Rows) -> None:
    if rows.pixels is not None:
        return
    for i in np.flatnonzero(rows.keep):
        if not rows.source[i].is_file():
            raise ReidPruneError(f"{rows.where(int(i))}: image {rows.source[i]} does not exist or "
                                 "is not a file; reload the dataset (in-memory datasets such "
                                 "as cifar need the table, not a manifest)")


def _materialize_rows(rows: _Rows, root: Path, layout: str, evaluation: SampleTable | None,
                      out: Path, link: str,
                      record: Callable[[Path], None]) -> MaterializeResult:
    """Plan every output file, then write them all into a temporary folder renamed onto ``out``.

    ``record(tmp)`` writes the manifest into the temporary folder.
    """
    _check_sources(rows)
    family = _family(layout)
    plan = _Plan()
    if family in _TRAIN_FOLDER:
        _plan_renamed_files(plan, rows, _TRAIN_FOLDER[family])
    elif family == "msmt17":
        _plan_msmt_train(plan, rows, root)
    elif family == "folders":
        _plan_identity_folders(plan, rows, root)
    else:
        _plan_generic(plan, rows, evaluation)
    if family in _EVAL_FOLDERS:
        _plan_eval_folders(plan, root, family)
    if family == "veri776":
        _plan_veri_side_files(plan, root)
    counts = {name: int((rows.status == name).sum())
              for name in ("kept", RELABELLED, PRUNED, OUTLIER)}
    result = MaterializeResult(
        path=out, layout="folders" if family == "generic" else family, kept=counts["kept"],
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
            (tmp / README_NAME).write_text(_readme(result, root, layout, link), encoding="utf-8")
    except OSError as exc:  # a full disk is already a ReidPruneError from atomic_path
        raise ReidPruneError(f"cannot write {out}: {exc}; check the permissions and the source "
                             "files") from exc
    return result


def _dup_name(rel: str, k: int) -> str:
    stem, ext = posixpath.splitext(rel)
    return f"{stem}_dup{k}{ext}"


def _with_leading_id(name: str, new_id: int, where: str) -> str:
    """``name`` with its leading id token replaced by ``new_id``, zero-padded like the token."""
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


def _claim_training_files(plan: _Plan, rows: _Rows, intended: dict[int, str],
                          moved: dict[int, bool], pixels: np.ndarray | None = None
                          ) -> dict[int, str]:
    """Add the kept rows to ``plan``; return each row's final output path.

    Rows that keep their name claim it first, so when a relabelled file meets one of them
    it is the relabelled file that gets the ``_dupN`` suffix, whatever the row order.
    """
    order = [i for i in intended if not moved[i]] + [i for i in intended if moved[i]]
    final = {}
    for i in order:
        final[i] = plan.add(intended[i], None if pixels is not None else rows.source[i],
                            rows.rel[i], rows.where(i),
                            pixels=None if pixels is None else pixels[i])
        plan.renamed += moved[i] or final[i] != intended[i]
    return {i: final[i] for i in intended}


def _plan_renamed_files(plan: _Plan, rows: _Rows, folder: str) -> None:
    kept = np.flatnonzero(rows.keep).tolist()
    names = {i: posixpath.basename(rows.rel[i]) for i in kept}
    new = {i: names[i] if rows.corrected[i] == rows.pid[i]
           else _with_leading_id(names[i], int(rows.corrected[i]), rows.where(i))
           for i in kept}
    final = _claim_training_files(plan, rows, {i: f"{folder}/{new[i]}" for i in kept},
                                  {i: new[i] != names[i] for i in kept})
    if folder == "image_train":
        plan.texts["name_train.txt"] = "".join(posixpath.basename(final[i]) + "\n" for i in kept)


def _plan_msmt_train(plan: _Plan, rows: _Rows, root: Path) -> None:
    listed = _listed_paths(root / "list_train.txt")
    lines = []
    for i in np.flatnonzero(rows.keep).tolist():
        rel = _safe_relative(rows.rel[i], rows.where(i), "path")
        parts = rel.split("/")
        # Keep the list's own convention (paths relative to train/ in MSMT17_V1).
        drop = next((k for k in range(len(parts)) if "/".join(parts[k:]) in listed),
                    1 if len(parts) > 1 else 0)
        final = plan.add(rel, rows.source[i], rows.rel[i], rows.where(i))
        plan.renamed += final != rel
        lines.append(f"{'/'.join(final.split('/')[drop:])} {int(rows.corrected[i])}\n")
    plan.texts["list_train.txt"] = "".join(lines)
    for name in _MSMT_COPIED_LISTS:
        if (root / name).is_file():
            plan.add(name, root / name, name, str(root), mode="copy")
            plan.eval_files += 1
        else:
            plan.missing_eval.append(name)


def _listed_paths(list_file: Path) -> set[str]:
    if not list_file.is_file():
        return set()
    with open(list_file, encoding="utf-8", errors="replace") as handle:
        return {line.split()[0] for line in handle if line.split()}


def _identity_depth(root: Path) -> int:
    """Leading path components that name an identity: 2 for ``train/<identity>/...``, else 1.

    The same rule as the folders loader: the split form is used when ``root/train`` holds a
    sub-folder.
    """
    train = root / "train"
    if train.is_dir() and any(c.is_dir() and not c.name.startswith(".") for c in train.iterdir()):
        return 2
    return 1


def _split_identity(rel: str, depth: int) -> tuple[str, str]:
    """``(identity folder, path inside it)``; camera sub-folders stay in the inner part."""
    parts = rel.split("/")
    k = min(depth, len(parts) - 1)
    return "/".join(parts[:k]), "/".join(parts[k:])


def _identity_folders(rows: _Rows, depth: int) -> dict[int, str]:
    """The identity folder holding most images of each pid (ties: the first name)."""
    votes: dict[int, dict[str, int]] = {}
    for rel, pid in zip(rows.rel, rows.pid.tolist()):
        folder = _split_identity(rel, depth)[0]
        votes.setdefault(pid, {}).setdefault(folder, 0)
        votes[pid][folder] += 1
    return {pid: min(count, key=lambda f: (-count[f], f)) for pid, count in votes.items()}


def _plan_identity_folders(plan: _Plan, rows: _Rows, root: Path) -> None:
    depth = _identity_depth(root)
    folder_of = _identity_folders(rows, depth)
    intended = {}
    for i in np.flatnonzero(rows.keep).tolist():
        target = int(rows.corrected[i])
        if target not in folder_of:
            raise ReidPruneError(f"{rows.where(i)}: corrected id {target} has no identity folder "
                                 "among the training images; use an id of an existing identity")
        inner = _split_identity(_safe_relative(rows.rel[i], rows.where(i), "path"), depth)[1]
        intended[i] = posixpath.join(folder_of[target], inner)
    _claim_training_files(plan, rows, intended, {i: intended[i] != rows.rel[i] for i in intended})
    if depth == 2:  # the split form: query/ and gallery/ (both optional) are linked whole
        _mirror_folders(plan, root, [name for name in _FOLDERS_EVAL_SPLITS
                                     if (root / name).is_dir()])


def _pid_folder(pid: int, width: int) -> str:
    return f"{'-' if pid < 0 else ''}{abs(pid):0{width}d}"


def _file_name(path: str, has_pixels: bool) -> str:
    name = posixpath.basename(str(path).replace("\\", "/"))
    if has_pixels:  # in-memory rows are named like "train#00042"
        return re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".png"
    return name


def _plan_generic(plan: _Plan, rows: _Rows, evaluation: SampleTable | None) -> None:
    kept = np.flatnonzero(rows.keep).tolist()
    pids = [int(rows.corrected[i]) for i in kept]
    if evaluation is not None:
        pids += evaluation.pid.tolist()
    width = max((len(str(abs(p))) for p in pids), default=1)
    intended = {i: f"train/{_pid_folder(int(rows.corrected[i]), width)}/"
                   f"{_file_name(rows.rel[i], rows.pixels is not None)}" for i in kept}
    _claim_training_files(plan, rows, intended,
                          {i: bool(rows.corrected[i] != rows.pid[i]) for i in kept}, rows.pixels)
    if evaluation is None:
        return
    for j, (path, pid, split) in enumerate(zip(evaluation.path, evaluation.pid.tolist(),
                                               evaluation.split.tolist())):
        if split not in _FOLDERS_EVAL_SPLITS:
            plan.eval_not_written += 1
            continue
        pixels = None if evaluation.pixels is None else evaluation.pixels[j]
        name = _file_name(path, pixels is not None)
        plan.add(f"{split}/{_pid_folder(pid, width)}/{name}",
                 None if pixels is not None else Path(path), str(path), f"{split} row {j}",
                 pixels=pixels)
        plan.eval_files += 1


def _plan_eval_folders(plan: _Plan, root: Path, family: str) -> None:
    present = [name for name in _EVAL_FOLDERS[family] if (root / name).is_dir()]
    if family == "msmt17":  # V1 has test/, V2 mask_test_v2/: either is complete
        if not present:
            plan.missing_eval.append("test")
    else:
        plan.missing_eval.extend(n for n in _EVAL_FOLDERS[family] if n not in present)
    _mirror_folders(plan, root, present)


def _mirror_folders(plan: _Plan, root: Path, names: list[str]) -> None:
    """Add every file under ``root/<name>`` unchanged, at the same relative path."""
    for name in names:
        for dirpath, dirnames, filenames in os.walk(root / name):
            dirnames.sort()
            for filename in sorted(filenames):
                source = Path(dirpath) / filename
                rel = PurePosixPath(source.relative_to(root)).as_posix()
                plan.add(rel, source, rel, str(source))
                plan.eval_files += 1


def _plan_veri_side_files(plan: _Plan, root: Path) -> None:
    for source in sorted(root.glob("*.txt")):
        if source.name == "name_train.txt" or not source.is_file():
            continue  # rewritten from the written training names
        plan.add(source.name, source, source.name, str(source), mode="copy")
        plan.eval_files += 1


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
            fallback += _place(job.source, target, job.mode or link)
    return fallback


def _place(source: Path, target: Path, mode: str) -> bool:
    """Link or copy one file; True when a hard link had to become a copy."""
    if mode == "copy":
        shutil.copy2(source, target)
        return False
    if mode == "symlink":
        os.symlink(os.path.abspath(source), target)
        return False
    try:
        os.link(source, target)
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARDLINK:
            raise
    shutil.copy2(source, target)
    return True


def _readme(result: MaterializeResult, root: Path, layout: str, link: str) -> str:
    lines = [
        "This folder was written by reidprune (data pruning and label purification for",
        "object re-identification, Yang et al., TMLR 2024).",
        "",
        f"source dataset: {root}",
        f"source layout:  {layout}",
        f"written as:     {result.layout} layout",
        f"files:          {link}" + (f" ({result.fallback_copies} copied instead: hard links "
                                     "were impossible there)" if result.fallback_copies else ""),
        "",
        f"training images written: {result.written} "
        f"({result.kept} kept, {result.relabelled} relabelled)",
        f"training images removed: {result.pruned + result.outlier} "
        f"({result.pruned} pruned as easy, {result.outlier} removed as outliers)",
        f"training images renamed or moved to carry their corrected identity: {result.renamed}",
        f"evaluation and side files linked or copied unchanged: {result.eval_files}",
    ]
    if result.missing_eval:
        lines.append(f"not in the source, so not written: {', '.join(result.missing_eval)}")
    if result.eval_not_written:
        lines.append(f"{result.eval_not_written} test images not written (the folders layout has "
                     "only train/, query/, gallery/); evaluate on the source dataset")
    if result.layout == "msmt17":
        lines.append("list_train.txt lists the written training images with corrected ids; "
                     "list_val.txt is not copied.")
    lines += ["", f"{MANIFEST_NAME}: one row per SOURCE training image (paths relative to the "
              "source dataset root) with its status (kept, relabelled, pruned, outlier), "
              "original and corrected identity."]
    if result.duplicates:
        lines += ["", "files given a _dupN suffix because another file had the same name:"]
        lines += [f"  {source} -> {written}" for source, written in result.duplicates]
    return "\n".join(lines) + "\n"
