"""EL2N score (Paul et al., 2021, "Deep Learning on a Data Diet").

EL2N(x, y) = || softmax(z(x)) - onehot(y) ||_2, the L2 norm of the error vector of a model's
prediction early in training (the paper: after 12 of 120 epochs, i.e. 10%). Higher = the model
is further from the assigned label = harder = more important = kept.

Following Paul et al. and the TMLR paper's appendix A.2, the models that produce the logits
are trained with cross-entropy ONLY (no triplet or other metric loss); "EL2N (20 models)" is
the mean of the scores of 20 independently seeded runs (:func:`average_over_models`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reidprune.errors import ReidPruneError


def _check_logits_labels(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ReidPruneError(f"logits must have shape (N, C) with C >= 2, got {logits.shape}")
    if labels.shape != (logits.shape[0],):
        raise ReidPruneError(f"labels must have shape ({logits.shape[0]},), got {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ReidPruneError(f"labels must be integers 0..C-1, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ReidPruneError(
            f"labels must lie in 0..{logits.shape[1] - 1} (the logits' classes), got "
            f"{labels.min()}..{labels.max()}")
    if not np.isfinite(logits).all():
        raise ReidPruneError("logits contain NaN or infinity; check the model that produced them")
    return logits, labels.astype(np.int64)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)  # exp never overflows
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def el2n_scores(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """EL2N = || softmax(logits) - onehot(label) ||_2 per sample (Paul et al., 2021).

    Parameters
    ----------
    logits:
        float (N, C): pre-softmax outputs of a cross-entropy-only model early in training.
    labels:
        int (N,): assigned labels in 0..C-1.

    Returns
    -------
    np.ndarray
        float64 (N,) in [0, sqrt(2)]. Higher = harder = kept.
    """
    logits, labels = _check_logits_labels(logits, labels)
    error = _softmax(logits)
    error[np.arange(len(labels)), labels] -= 1.0
    return np.sqrt((error ** 2).sum(axis=1))


def average_over_models(score_arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of per-sample scores from independently seeded models (e.g. "EL2N (20 models)").

    Parameters
    ----------
    score_arrays:
        One float (N,) array per model, all index-aligned with the same training set.

    Returns
    -------
    np.ndarray
        float64 (N,): the element-wise mean.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in score_arrays]
    if not arrays:
        raise ReidPruneError("average_over_models needs at least one score array")
    shape = arrays[0].shape
    if len(shape) != 1:
        raise ReidPruneError(f"score arrays must be 1-D (N,), got shape {shape}")
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise ReidPruneError(
                f"score array {i} has shape {a.shape} but array 0 has {shape}; all models must "
                "score the same training set")
        if not np.isfinite(a).all():
            raise ReidPruneError(f"score array {i} contains NaN or infinity")
    return np.mean(np.stack(arrays), axis=0)
