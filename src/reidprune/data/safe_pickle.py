"""Read pickles that hold only plain containers and numpy arrays, and nothing that runs code.

``pickle.load`` calls whatever callable a file names, so a downloaded pickle can run any
command. :class:`RestrictedUnpickler` resolves only the handful of globals that numpy arrays
and Python 2 era containers need; any other global is refused before it is called.
"""
from __future__ import annotations

import codecs
import importlib
import os
import pickle
from typing import Any, Callable

import numpy as np

from reidprune.errors import ReidPruneError

LATIN1_NAMES = ("latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1")


def _numpy_core(submodule: str, name: str) -> Callable[[], Any]:
    """Lazy getter for a numpy internal that moved from ``numpy.core`` to ``numpy._core`` in 2.0."""
    def get() -> Any:
        for package in ("numpy._core", "numpy.core"):
            try:
                return getattr(importlib.import_module(f"{package}.{submodule}"), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError(f"this numpy has no {submodule}.{name}")
    return get


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` restricted to latin-1: how Python 3 pickles bytes for Python 2 readers."""
    if not isinstance(text, str) or str(encoding).lower() not in LATIN1_NAMES:
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return codecs.encode(text, "latin1", errors)


def _allowed_globals() -> dict[tuple[str, str], Callable[[], Any]]:
    """(module, name) -> getter of every global a numpy array or plain container may need."""
    allowed: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: _latin1_encode,
    }
    for package in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x spellings
        allowed[(f"{package}.multiarray", "_reconstruct")] = _numpy_core("multiarray", "_reconstruct")
        allowed[(f"{package}.multiarray", "scalar")] = _numpy_core("multiarray", "scalar")
        allowed[(f"{package}.numeric", "_frombuffer")] = _numpy_core("numeric", "_frombuffer")
    for builtins_name in ("builtins", "__builtin__"):  # Python 3 and Python 2 spellings
        for kind in (set, frozenset, bytearray):
            allowed[(builtins_name, kind.__name__)] = (lambda k=kind: k)
    return allowed


_ALLOWED = _allowed_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals numpy arrays and plain containers need.

    Parameters
    ----------
    file:
        Binary file object to read from.
    source:
        Name of the file, used in error messages.
    encoding:
        How Python 2 ``str`` objects are decoded: ``"bytes"`` keeps them as bytes (what
        CIFAR's pickles need), ``"latin1"`` decodes them.
    """

    def __init__(self, file, *, source: str, encoding: str = "bytes"):
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        getter = _ALLOWED.get((module, name))
        if getter is None:
            raise ReidPruneError(
                f"{self.source}: refusing to unpickle {module}.{name}; only plain containers and "
                "numpy arrays are allowed (do not load pickles from untrusted sources)")
        return getter()

    def persistent_load(self, pid: Any) -> Any:
        raise ReidPruneError(f"{self.source}: refusing a pickle with persistent ids; only plain "
                             "containers and numpy arrays are allowed")


def safe_load_pickle(path: str | os.PathLike, encoding: str = "bytes") -> Any:
    """Load a pickle of plain containers and numpy arrays without running code from it.

    Parameters
    ----------
    path:
        The pickle file.
    encoding:
        Decoding of Python 2 ``str`` objects (``"bytes"`` keeps them as bytes, as CIFAR needs;
        ``"latin1"`` or ``"ASCII"`` decode them).

    Returns
    -------
    object
        The unpickled dicts, lists, tuples, strings, numbers and numpy arrays.

    Raises
    ------
    ReidPruneError
        Naming the file when it cannot be read, is not a pickle, is truncated, or names any
        global outside the allowed set (such a global is refused before it is called).
    """
    path = os.fspath(path)
    try:
        handle = open(path, "rb")
    except OSError as err:
        raise ReidPruneError(f"cannot read {path}: {err.strerror or err}; check that it exists")
    with handle:
        try:
            return RestrictedUnpickler(handle, source=path, encoding=encoding).load()
        except ReidPruneError:
            raise
        except Exception as err:  # a corrupt pickle can fail with almost any exception type
            raise ReidPruneError(f"{path}: not a readable pickle ({type(err).__name__}: {err}); "
                                 "re-download or re-create the file") from err
