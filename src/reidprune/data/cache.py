"""Decode a table once into an on-disk uint8 cache and memory-map it on every later use.

The cache is one ``.npy`` file (N x 3 x H x W uint8) plus an ``.ok.npy`` file (which rows
decoded), under ``$REIDPRUNE_CACHE`` or ``~/.cache/reidprune``. Its name is a hash of the
table's fingerprint (relative path, pid, camid, split and file size of every row), the
dataset root, every file's modification time and the input size: re-encoding, moving or
touching a file gives a new cache rather than stale pixels. Both files are written under a
temporary name and renamed into place, so an interrupted decode never leaves a cache that a
later command would trust.

The returned tensor is backed by the memory map (copy-on-write, never written): the
operating system pages rows in on demand, so a set of any size never needs to fit in RAM.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from reidprune.atomic import atomic_path
from reidprune.data.images import check_size, decode_into, load_images
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError

CACHE_ENV = "REIDPRUNE_CACHE"
FORMAT = 1  # bump when the decoding (resize filter, layout) changes


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``path``, else ``$REIDPRUNE_CACHE``, else ``~/.cache/reidprune``."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "reidprune")


def cache_key(table: SampleTable, size: tuple[int, int]) -> str:
    """Hash naming the cache of ``table`` decoded at ``size`` (see the module docstring)."""
    height, width = check_size(size)
    digest = hashlib.sha256(f"{FORMAT}\t{table.root}\t{table.fingerprint()}\t{height}x{width}\n".encode())
    for path in table.path:
        try:
            digest.update(f"{os.stat(path).st_mtime_ns}\n".encode())
        except OSError:
            digest.update(b"missing\n")
    return digest.hexdigest()[:32]


def cached_images(table: SampleTable, size: tuple[int, int], on_error: str = "raise",
                  workers: int | None = None, progress: bool = True,
                  directory: str | os.PathLike | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """:func:`~reidprune.data.images.load_images`, through the on-disk cache.

    Parameters
    ----------
    table, size, on_error, workers, progress:
        As in :func:`~reidprune.data.images.load_images`. With ``on_error="raise"`` an
        unreadable file raises before any cache is written; with ``"skip"`` the cache keeps
        its rows as zeros and ``ok`` False, and later commands get the same ``ok``.
    directory:
        Cache folder (default: :func:`cache_dir`).

    Returns
    -------
    images:
        uint8 tensor N x 3 x H x W backed by the memory-mapped cache file.
    ok:
        Boolean array, False for rows that could not be read.

    Tables whose pixels are already in memory (CIFAR-100) are decoded directly, uncached.
    """
    if table.pixels is not None:
        return load_images(table, size, on_error=on_error, workers=workers, progress=progress)
    height, width = check_size(size)
    folder = cache_dir(directory)
    key = cache_key(table, size)
    data, ok_file = folder / f"images-{key}.npy", folder / f"images-{key}.ok.npy"
    if not (data.exists() and ok_file.exists()):
        _build(table, (height, width), data, ok_file, on_error, workers, progress)
    images = np.load(data, mmap_mode="c")
    ok = np.load(ok_file)
    if images.shape != (len(table), 3, height, width) or images.dtype != np.uint8 or ok.shape != (len(table),):
        raise ReidPruneError(f"image cache {data} does not match the dataset ({images.shape}); delete it "
                             "and run again")
    if on_error == "raise" and not ok.all():
        bad = table.path[int(np.flatnonzero(~ok)[0])]
        raise ReidPruneError(f"{bad}: unreadable (recorded in the image cache {data}); replace or remove "
                             "it, or pass --skip-bad-images")
    return torch.from_numpy(images), ok


def _build(table, size, data: Path, ok_file: Path, on_error, workers, progress) -> None:
    try:
        data.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReidPruneError(f"cannot create the image cache folder {data.parent} ({exc.strerror}); set "
                             f"{CACHE_ENV} to a writable folder") from exc
    with atomic_path(data) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(table), 3, *size))
        ok = decode_into(out, table, on_error=on_error, workers=workers, progress=progress)
        out.flush()
        del out
        with atomic_path(ok_file) as tmp_ok:
            with open(tmp_ok, "wb") as handle:
                np.save(handle, ok)



class ImageRows:
    """Rows ``index`` of a uint8 image tensor, selected lazily (no copy of the whole subset).

    Indexing with an int array, a tensor or a slice returns those rows as a tensor, as the
    tensor itself would; a memory-mapped tensor is therefore read only batch by batch.
    Build it with :func:`image_rows`.
    """

    def __init__(self, images: torch.Tensor, index: np.ndarray):
        self.images, self.index = images, np.asarray(index, dtype=np.int64)
        self.shape = torch.Size((len(self.index), *images.shape[1:]))
        self.dtype = images.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, rows) -> torch.Tensor:
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu().numpy()
        picked = self.index[rows]
        if np.ndim(picked) == 0:
            return self.images[int(picked)]
        return self.images[torch.from_numpy(np.ascontiguousarray(picked))]


def image_rows(images, index) -> torch.Tensor | ImageRows:
    """Rows ``index`` of ``images`` (a tensor or an :class:`ImageRows`), without copying them."""
    index = np.asarray(index, dtype=np.int64)
    if isinstance(images, ImageRows):
        return ImageRows(images.images, images.index[index])
    return ImageRows(images, index)
