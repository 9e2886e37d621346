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
from reidprune.validation.arrays import as_logits, softmax


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
    logits, labels = as_logits(logits, labels)
    error = softmax(logits)
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
