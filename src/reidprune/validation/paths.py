"""Checks of paths and output folders, made before anything is written: one place for each rule.

A path read from a list or manifest stays inside the dataset; a folder about to be written is
new or empty, writable, outside the dataset, and locked while a command writes into it. Every
check raises :class:`ReidPruneError` naming the path at fault and what to do. Imports neither
numpy nor torch: an error found here prints at once.
"""
from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Iterator

from reidprune.errors import ReidPruneError

LOCK_NAME = ".reidprune.lock"

def prepare_output_folder(out: str | os.PathLike, option: str = "--out") -> Path:
    """Create ``out`` (and its parents) and make sure files can be written in it.

    Parameters
    ----------
    out:
        The output folder a command writes to.
    option:
        The CLI option that named it, for the message.

    Returns
    -------
    Path
        ``out`` as a Path, existing and writable.
    """
    out = Path(out)
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            raise ReidPruneError(f"{option} {out}: {parent} is a file, not a folder; choose an output folder "
                                 "whose path has no file in it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReidPruneError(f"{option} {out}: cannot create the folder ({exc.strerror or exc}); choose a "
                             "folder you can write to") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ReidPruneError(f"{option} {out}: the folder is not writable; fix its permissions "
                             f"(chmod u+w {out}) or choose another folder")
    return out


@contextlib.contextmanager
def output_lock(out: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on the output folder ``out`` while a command writes into it.

    A second reidprune command given the same folder fails at once instead of interleaving
    its files with the first one's. The lock is released when the process ends, even on
    SIGKILL (an OS file lock, via the ``filelock`` library); the small ``.reidprune.lock`` file
    stays behind and is harmless. Under ``torchrun`` only rank 0 (which writes) takes it.
    """
    from filelock import FileLock, Timeout

    out = prepare_output_folder(out)
    if os.environ.get("RANK", "0") != "0":
        yield out
        return
    lock = FileLock(str(out / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ReidPruneError(f"another reidprune command is writing to {out} right now; wait for it to "
                             "finish or choose another --out") from None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise ReidPruneError(f"--out {out}: the folder is not writable ({exc.strerror}); fix its "
                                 "permissions or choose another folder") from None
        raise
    try:
        yield out
    finally:
        lock.release()


def relative_path(rel: str, where: str, what: str = "path", base: str = "the dataset root") -> str:
    """``rel`` as a clean relative posix path; refused if empty, absolute or with ``..``.

    Parameters
    ----------
    rel:
        The path as written in a list, a manifest or a plan (``/`` or ``\\`` separators).
    where:
        The file and line (or row) it came from, for the message.
    what:
        What the path is (``"path"``, ``"output path"``).
    base:
        What it must stay inside, for the message.
    """
    if not rel or "\x00" in rel:
        raise ReidPruneError(f"{where}: empty or invalid {what} {rel!r}")
    if rel.startswith(("/", "\\")) or PureWindowsPath(rel).drive or os.path.isabs(rel):
        raise ReidPruneError(f"{where}: {what} {rel!r} is absolute; paths must be relative to {base}")
    if ".." in re.split(r"[\\/]", rel):
        raise ReidPruneError(f"{where}: {what} {rel!r} contains '..'; paths must be relative to "
                             f"{base} and stay inside it")
    return posixpath.normpath(rel)


def is_absolute_path(path: str) -> bool:
    """True for a POSIX or Windows absolute path (``/x``, ``C:\\x``, ``\\\\server\\x``)."""
    return PurePosixPath(path).is_absolute() or PureWindowsPath(path).is_absolute()


def check_outside(path: str | os.PathLike, root: str | os.PathLike, name: str) -> Path:
    """``path`` resolved; refused when it is, holds or lies inside the dataset folder ``root``.

    Parameters
    ----------
    path:
        A folder about to be written (e.g. a pruned copy of the dataset).
    root:
        The dataset folder, which must stay untouched.
    name:
        What to call ``path`` in the message (``"output folder /x"``, ``"--materialize x"``).
    """
    target, root = Path(path).expanduser().resolve(), Path(root).resolve()
    if target == root or root in target.parents or target in root.parents:
        raise ReidPruneError(f"{name} overlaps the dataset {root}; write the copy to a folder outside the dataset")
    return target


def check_output_folder(out_dir: str | os.PathLike, overwrite: bool, how: str | None = "allow overwriting it",
                        name: str | None = None) -> Path:
    """``out_dir`` resolved; refused when it is a file, or a non-empty folder without ``overwrite``.

    Parameters
    ----------
    out_dir:
        The folder about to be written (it may not exist yet).
    overwrite:
        Whether replacing a non-empty folder is allowed.
    how:
        How the caller allows overwriting, for the message (``"pass --overwrite"``); None when it cannot.
    name:
        What to call the folder in messages; None = ``"output folder <resolved path>"``.
    """
    out = Path(out_dir).expanduser().resolve()
    name = name or f"output folder {out}"
    if out.exists() and not out.is_dir():
        raise ReidPruneError(f"{name} exists and is not a folder; choose another path")
    if out.is_dir() and not overwrite and any(out.iterdir()):
        raise ReidPruneError(f"{name} is not empty; choose a new folder" + (f" or {how}" if how else ""))
    return out


def check_materialize_target(target: str | os.PathLike | None, dataset: str | os.PathLike,
                             out: str | os.PathLike | None = None) -> None:
    """``--materialize`` must be a new or empty folder outside the dataset and apart from ``--out``."""
    if target is None:
        return
    name = f"--materialize {target}"
    target_path = check_outside(target, dataset, name)
    if out is not None and target_path == Path(out).expanduser().resolve():
        raise ReidPruneError(f"{name} is the --out folder; give the pruned copy its own folder")
    check_output_folder(target_path, overwrite=False, how=None, name=name)
    for parent in target_path.parents:
        if parent.exists():
            if not os.access(parent, os.W_OK | os.X_OK) and not target_path.exists():
                raise ReidPruneError(f"{name}: {parent} is not writable; choose another folder")
            break
