"""Decode image files into RGB arrays, strictly: a broken file is an error, never a silent blank.

PIL loads a truncated JPEG without complaint when ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set;
reidprune never sets it and forces the full decode with ``.load()``, so a cut-off file is
reported with its name instead of training on half a picture.
"""
from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from reidprune.data.layouts.base import SkippedFilesWarning
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.progress import progress as progress_bar
from reidprune.validation.arrays import check_int

DEFAULT_MAX_WORKERS = 8
DECODE_CHUNK = 4096


def decode_image(path: str | os.PathLike) -> np.ndarray:
    """Decode one image file to an RGB array.

    Parameters
    ----------
    path:
        Image file (any format PIL reads; the content decides, not the extension).

    Returns
    -------
    numpy.ndarray
        H x W x 3 uint8, RGB. Grayscale, palette, RGBA (alpha dropped), CMYK and 16-bit
        images are converted; only the first frame of an animation is read.

    Raises
    ------
    ReidPruneError
        Naming the file and the problem: missing, empty, not an image, truncated or corrupt.
    """
    return np.array(open_rgb(path))  # a writable copy, unlike np.asarray on a PIL image


def open_rgb(path: str | os.PathLike) -> Image.Image:
    """Fully decoded RGB PIL image of ``path``; see :func:`decode_image` for the errors."""
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except (OSError, ValueError) as err:
        raise ReidPruneError(f"{path}: cannot read the image ({getattr(err, 'strerror', None) or err}); "
                             "check that the file exists")
    if not os.path.isfile(path):
        raise ReidPruneError(f"{path}: not a file (a folder or a device?); point to an image file")
    if size == 0:
        raise ReidPruneError(f"{path}: the image file is empty (0 bytes); re-copy or remove it")
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise ReidPruneError(f"{path}: cannot read the image ({err.strerror or err}); check its "
                             "permissions") from None
    try:
        with handle, Image.open(handle) as image:
            image.load()
            return to_rgb(image)
    except UnidentifiedImageError:
        raise ReidPruneError(f"{path}: not an image PIL can read (unknown or damaged format); "
                             "replace or remove it") from None
    except Image.DecompressionBombError as err:
        raise ReidPruneError(f"{path}: image is implausibly large ({err}); replace or remove it") from None
    except Exception as err:  # damaged files fail inside PIL's decoders with many exception types
        problem = "truncated" if "truncated" in str(err).lower() else "corrupt"
        raise ReidPruneError(f"{path}: the image is {problem} ({type(err).__name__}: {err}); "
                             "replace or remove it") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB (16-bit grayscale keeps its top 8 bits instead of saturating)."""
    if image.mode == "RGB":
        return image.copy()
    if image.mode.startswith("I;16"):
        high = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
        return Image.fromarray(np.repeat(high[..., None], 3, axis=2))
    if image.mode in ("P", "PA"):
        # Palette transparency must go through RGBA, or PIL warns and may drop it wrongly.
        image = image.convert("RGBA")
    return image.convert("RGB")


def load_images(table: SampleTable, size: tuple[int, int], on_error: str = "raise",
                workers: int | None = None, progress: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """Decode and resize every row of a table into one uint8 tensor.

    Parameters
    ----------
    table:
        Rows to load; pixels come from ``table.pixels`` when present, else from the files.
    size:
        ``(height, width)`` of the output; images are resized with PIL's bilinear filter.
    on_error:
        ``"raise"``: the first unreadable file (in row order) raises. ``"skip"``: unreadable
        rows stay zero, ``ok`` is False for them, and a :class:`SkippedFilesWarning` gives
        the count and the first bad file.
    workers:
        Decoding threads (PIL releases the GIL while decoding); default
        ``min(8, os.cpu_count())``.
    progress:
        Show progress on stderr (a bar on a terminal, one line when redirected).

    Returns
    -------
    images:
        ``torch.uint8`` tensor N x 3 x H x W, in row order.
    ok:
        Boolean array, False for rows that could not be read.
    """
    height, width = check_size(size)
    out = np.zeros((len(table), 3, height, width), dtype=np.uint8)
    ok = decode_into(out, table, on_error=on_error, workers=workers, progress=progress)
    return torch.from_numpy(out), ok


def decode_into(out: np.ndarray, table: SampleTable, on_error: str = "raise", workers: int | None = None,
                progress: bool = True) -> np.ndarray:
    """Decode every row of ``table`` into ``out`` (N x 3 x H x W uint8, e.g. a memory map).

    Rows are resized to ``out``'s H x W; threads each write only their own row, so a
    memory-mapped ``out`` never needs to fit in RAM. ``on_error`` and ``workers`` are as in
    :func:`load_images`. Returns ``ok``, False for the rows that could not be read (left as
    they were in ``out``; :func:`load_images` passes zeros).
    """
    if on_error not in ("raise", "skip"):
        raise ReidPruneError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if out.dtype != np.uint8 or out.ndim != 4 or out.shape[:2] != (len(table), 3):
        raise ReidPruneError(f"out must be a {len(table)} x 3 x H x W uint8 array, got {out.dtype} {out.shape}")
    height, width = out.shape[2:]
    workers = check_workers(workers)
    if table.pixels is not None:
        check_pixels(table)
    ok = np.ones(len(table), dtype=np.bool_)

    def load_row(index: int) -> str | None:
        # Each row writes only its own slot, so threads never share an output element.
        try:
            image = row_image(table, index)
        except ReidPruneError as err:
            return str(err)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        out[index] = np.asarray(image).transpose(2, 0, 1)
        return None

    errors = []
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        with progress_bar(desc="decoding images", total=len(table), unit="img", enabled=progress) as bar:
            for begin in range(0, len(table), DECODE_CHUNK):  # bounded number of pending futures
                rows = range(begin, min(begin + DECODE_CHUNK, len(table)))
                for index, error in zip(rows, pool.map(load_row, rows)):
                    bar.update(1)
                    if error is None:
                        continue
                    if on_error == "raise":
                        raise ReidPruneError(error)
                    ok[index] = False
                    errors.append(error)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if errors:
        warnings.warn(f"skipped {len(errors)} of {len(table)} unreadable image(s) (left as zeros, "
                      f"ok=False); first: {errors[0]}", SkippedFilesWarning, stacklevel=3)
    return ok


def row_image(table: SampleTable, index: int) -> Image.Image:
    """RGB PIL image of one table row, from memory or from its file."""
    if table.pixels is not None:
        return Image.fromarray(np.ascontiguousarray(table.pixels[index]))
    return open_rgb(table.path[index])


def check_size(size) -> tuple[int, int]:
    """``size`` as ``(height, width)`` positive ints, or a :class:`ReidPruneError`."""
    try:
        height, width = size
    except (TypeError, ValueError):
        raise ReidPruneError(f"size must be (height, width), got {size!r}") from None
    try:
        return check_int(height, "height", minimum=1), check_int(width, "width", minimum=1)
    except ReidPruneError:
        raise ReidPruneError(f"size must be two positive integers (height, width), got {size!r}") from None


def check_workers(workers: int | None) -> int:
    """Number of decoding threads: ``workers`` validated, or the default."""
    if workers is None:
        return min(DEFAULT_MAX_WORKERS, os.cpu_count() or 1)
    return check_int(workers, "workers", minimum=1)


def check_pixels(table: SampleTable) -> None:
    """In-memory pixels must be N x H x W x 3 uint8, one image per row."""
    pixels = table.pixels
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[3] != 3 or len(pixels) != len(table):
        raise ReidPruneError(f"table.pixels must be a {len(table)} x H x W x 3 uint8 array, got "
                             f"{pixels.dtype} {pixels.shape}")
