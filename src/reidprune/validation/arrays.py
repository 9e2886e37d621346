"""Checks of numbers and arrays: one place for each rule and its message.

Like cleanlab's ``internal/validation.py``: scores/, select/, data/ and eval/ call these instead
of keeping their own copies. Every check raises :class:`ReidPruneError` with a message that
names the value at fault and what is expected, and returns the value in the form the caller
computes with (int, float, int64 / float64 / bool arrays).
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError

#: How far a probability row may sum from 1. Loose enough for float32 softmax output over
#: a thousand classes, tight enough to catch logits passed where probabilities belong.
ROW_SUM_TOLERANCE = 1e-4

_INTEGERS = (int, np.integer)
_NUMBERS = (int, float, np.integer, np.floating)


def _bounds(minimum, maximum, max_open: bool = False) -> str:
    """Words for a range: 'a positive', 'a non-negative', 'in [a, b]', '>= a'."""
    if maximum is None:
        return {0: "non-negative", 1: "positive"}.get(minimum, f">= {minimum:g}")
    return f"in [{minimum:g}, {maximum:g}{')' if max_open else ']'}"


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int in ``[minimum, maximum]`` (bools and floats are refused).

    Parameters
    ----------
    value:
        The candidate (Python or NumPy integer).
    name:
        What to call it in the message (``"seed"``, ``"count to remove"``).
    minimum, maximum:
        Inclusive bounds; None leaves that side open.
    """
    ok = not isinstance(value, bool) and isinstance(value, _INTEGERS)
    if ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
        return int(value)
    if minimum is None:
        rule = "an integer" if maximum is None else f"an integer <= {maximum}"
    elif maximum is None and minimum in (0, 1):
        rule = f"a {_bounds(minimum, None)} integer"
    else:
        rule = f"an integer {_bounds(minimum, maximum)}"
    raise ReidPruneError(f"{name} must be {rule}, got {value!r}")


def check_number(value, name: str, minimum: float | None = None, maximum: float | None = None,
                 max_open: bool = False, hint: str = "") -> float:
    """``value`` as a finite float in ``[minimum, maximum]`` (or ``[minimum, maximum)``).

    Parameters
    ----------
    value:
        The candidate (Python or NumPy number; bools are refused).
    name:
        What to call it in the message.
    minimum, maximum:
        Bounds; None leaves that side open. ``minimum`` is inclusive.
    max_open:
        Exclude ``maximum`` itself.
    hint:
        Appended to the message (e.g. ``" (paper: 0.5)"``).
    """
    if not isinstance(value, bool) and isinstance(value, _NUMBERS) and np.isfinite(value):
        low_ok = minimum is None or value >= minimum
        high_ok = maximum is None or (value < maximum if max_open else value <= maximum)
        if low_ok and high_ok:
            return float(value)
    if minimum is None and maximum is None:
        rule = "a finite number"
    elif maximum is None:
        rule = f"a {_bounds(minimum, None)} number" if minimum in (0, 1) else f"a number >= {minimum:g}"
    else:
        rule = f"a number {_bounds(minimum if minimum is not None else -np.inf, maximum, max_open)}"
    raise ReidPruneError(f"{name} must be {rule}{hint}, got {value!r}")


def as_labels(labels, n: int | None = None, num_classes: int | None = None, name: str = "labels",
              per: str = "one per sample") -> np.ndarray:
    """``labels`` as a 1-D int64 array of ``n`` entries in ``0..num_classes-1``.

    Parameters
    ----------
    labels:
        Candidate labels (an empty float array is accepted as no labels).
    n:
        Required length, or None for any length.
    num_classes:
        Upper bound (exclusive) of the labels, or None: then only ``>= 0`` is required.
    name:
        What to call the array in messages (``"labels"``, ``"predicted labels"``).
    per:
        What one entry stands for, in the length message.
    """
    array = np.asarray(labels)
    if n is not None and array.shape != (n,):
        raise ReidPruneError(f"{name} must be a 1-D array of {n} entries ({per}), got shape {array.shape}")
    if array.ndim != 1:
        raise ReidPruneError(f"{name} must be a 1-D integer array, got shape {array.shape}")
    if not array.size:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ReidPruneError(f"{name} must be integers (a 1-D integer array), got dtype {array.dtype}")
    if num_classes is not None and (array.min() < 0 or array.max() >= num_classes):
        raise ReidPruneError(f"{name} must lie in 0..{num_classes - 1} (training labels), got "
                             f"{array.min()}..{array.max()}")
    if array.min() < 0:
        raise ReidPruneError(f"{name} must be training labels 0..C-1, got {array.min()}; "
                             "use the training split only")
    return array.astype(np.int64)


def as_matrix(values, name: str, min_columns: int = 1) -> np.ndarray:
    """``values`` as a finite float64 ``(N, C)`` array with at least ``min_columns`` columns."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReidPruneError(f"{name} must be a numeric (N, C) array: {exc}") from exc
    if array.ndim != 2:
        raise ReidPruneError(f"{name} must be a 2-D (N, C) array, got shape {array.shape}")
    if array.shape[1] < min_columns:
        count = "one class column" if min_columns == 1 else f"{min_columns} class columns"
        raise ReidPruneError(f"{name} must have at least {count}, got shape {array.shape}")
    if not np.isfinite(array).all():
        row = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ReidPruneError(f"{name} must be finite, row {row} holds NaN or inf; "
                             "check the model or training run that produced them")
    return array


def as_logits(logits, labels=None, name: str = "logits") -> tuple[np.ndarray, np.ndarray | None]:
    """Finite float64 ``(N, C)`` logits with ``C >= 2``, and their labels in ``0..C-1``.

    Parameters
    ----------
    logits:
        Candidate pre-softmax outputs.
    labels:
        ``(N,)`` integer labels, or None (then None is returned in their place).
    name:
        What to call the logits in messages.
    """
    array = as_matrix(logits, name, min_columns=2)
    if labels is None:
        return array, None
    return array, as_labels(labels, len(array), array.shape[1], per=f"one per row of the {name}")


def as_probabilities(probs, name: str = "soft labels", min_columns: int = 1) -> np.ndarray:
    """``probs`` as float64 ``(N, C)`` rows that are non-negative and sum to 1."""
    array = as_matrix(probs, name, min_columns)
    if (array < 0).any():
        row = int(np.flatnonzero((array < 0).any(axis=1))[0])
        raise ReidPruneError(f"{name} must be non-negative, row {row} has a negative value; "
                             "pass probabilities (softmax output), not logits")
    sums = array.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
    if len(bad):
        raise ReidPruneError(f"{name} rows must sum to 1, row {int(bad[0])} sums to "
                             f"{sums[bad[0]]:.6g}; pass probabilities (softmax output), not logits")
    return array


def as_bool_mask(mask, n: int | None = None, name: str = "mask") -> np.ndarray:
    """``mask`` as a 1-D bool array (of ``n`` entries when given)."""
    array = np.asarray(mask)
    wrong_length = n is not None and array.shape != (n,)
    if array.ndim != 1 or wrong_length or (array.size and array.dtype != np.bool_):
        size = f" of {n} entries" if n is not None else ""
        raise ReidPruneError(f"{name} must be a 1-D bool mask{size}, got dtype {array.dtype} "
                             f"shape {array.shape}")
    return array.astype(bool)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of a float ``(N, C)`` array (validate it first, e.g. :func:`as_logits`).

    Each row's maximum is subtracted before exponentiating, so large logits never overflow.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)
