"""The paper's importance score: entropy of the soft label built from averaged logits.

Yang et al. (TMLR 2024), Sec. 3.3:

* Eq. 1, the soft label of a sample is the softmax of its MEAN logits over the recorded
  training passes (average the logits, then apply softmax once; not the mean of the
  per-pass probabilities);
* Eq. 2, its importance is the entropy of that soft label, ``H = -sum_i p_i log2 p_i``,
  with ``0 log 0 = 0``. Direction: HIGHER entropy = harder = more important = kept;
  the lowest-entropy (easiest) samples are pruned first.

Everything here is arrays in / arrays out: ``(N, C)`` float arrays give ``(N,)`` arrays.
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import ROW_SUM_TOLERANCE, as_matrix, as_probabilities, softmax

__all__ = ["ROW_SUM_TOLERANCE", "entropy_scores", "max_scores", "predicted_labels", "soft_labels",
           "validate_soft_labels"]


def soft_labels(mean_logits: np.ndarray) -> np.ndarray:
    """Soft labels of Eq. 1: the softmax of each sample's mean logits.

    Parameters
    ----------
    mean_logits:
        ``(N, C)`` array of logits averaged over the recorded passes (for instance
        ``LogitRecorder``'s running sums divided by the visit counts). Must be finite.

    Returns
    -------
    np.ndarray
        ``(N, C)`` float64 array whose rows are non-negative and sum to 1. Computed by
        subtracting each row's maximum before exponentiating, so large logits do not
        overflow.
    """
    return softmax(as_matrix(mean_logits, "mean logits"))


def entropy_scores(soft_labels: np.ndarray) -> np.ndarray:
    """Importance of Eq. 2: the entropy of each soft label in bits.

    Parameters
    ----------
    soft_labels:
        ``(N, C)`` array of probabilities (rows non-negative, summing to 1), e.g. the
        output of :func:`soft_labels`.

    Returns
    -------
    np.ndarray
        ``(N,)`` float64 entropies ``-sum_i p_i log2 p_i`` with ``0 log 0 = 0``, between 0
        (one-hot: easiest) and ``log2 C`` (uniform: hardest). Higher = more important = kept.
    """
    probs = validate_soft_labels(soft_labels)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, probs * np.log2(np.where(probs > 0, probs, 1.0)), 0.0)
    # -0.0 for one-hot rows reads oddly in reports; clip tiny negatives from rounding too.
    return np.maximum(-terms.sum(axis=1), 0.0)


def predicted_labels(soft_labels: np.ndarray) -> np.ndarray:
    """The class with the highest soft-label score per sample (ties: the lowest class).

    Parameters
    ----------
    soft_labels:
        ``(N, C)`` array of probabilities, as for :func:`entropy_scores`.

    Returns
    -------
    np.ndarray
        ``(N,)`` int64 training labels in ``0..C-1``.
    """
    return validate_soft_labels(soft_labels).argmax(axis=1).astype(np.int64)


def max_scores(soft_labels: np.ndarray) -> np.ndarray:
    """The highest class score of each ``(N, C)`` soft label: ``(N,)`` float64 in ``[1/C, 1]``.

    The outlier test compares it with delta; input as for :func:`entropy_scores`.
    """
    return validate_soft_labels(soft_labels).max(axis=1)


def soft_label_statistics(mean_logits: np.ndarray, labels: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Everything selection needs from the mean logits, computed once at scoring time.

    Samples whose row is not finite (never recorded in the accumulation window, possible
    with ``every > 1``) have no soft label: they get the highest importance (kept), their
    own label as the prediction and NaN as the max score (never an outlier).

    Parameters
    ----------
    mean_logits:
        ``(N, C)`` mean logits, NaN rows for unrecorded samples.
    labels:
        ``(N,)`` assigned training labels (the prediction of unrecorded samples).

    Returns
    -------
    recorded:
        ``(N,)`` bool, True where the sample has a soft label.
    importance:
        ``(N,)`` entropy in bits (Eq. 2); unrecorded samples get the recorded maximum + 1.
    predicted:
        ``(N,)`` int64 argmax of the soft label, the assigned label where unrecorded.
    max_score:
        ``(N,)`` float64 highest soft-label score, NaN where unrecorded.
    """
    mean = np.asarray(mean_logits)
    recorded = np.isfinite(mean).all(1)
    soft = soft_labels(np.where(recorded[:, None], mean, 0.0))
    importance = entropy_scores(soft)
    if not recorded.all():
        importance[~recorded] = importance[recorded].max() + 1.0
    predicted = np.where(recorded, predicted_labels(soft), labels)
    return recorded, importance, predicted, np.where(recorded, max_scores(soft), np.nan)


#: Soft labels are probability rows; the check lives in :mod:`reidprune.validation.arrays`.
validate_soft_labels = as_probabilities


def sparse_soft_label_stats(index: np.ndarray, mean_logits: np.ndarray, rest_logit: np.ndarray,
                            num_classes: int, rest_spread: np.ndarray | None = None
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entropy, max score and argmax of soft labels given by k classes plus a modelled rest.

    The soft label is the softmax over C classes whose mean logits are ``mean_logits`` for
    the k classes in ``index``; the other ``R = C - k`` classes (as kept by
    :class:`reidprune.dynamics.topk.TopKLogitRecorder`) are given by their log-mean-exp
    ``rest_logit`` (their softmax mass is ``R exp(rest_logit)``) and ``rest_spread`` ``g``:
    with mean logit ``mu`` and a Gaussian spread of variance ``s^2``, ``rest_logit = mu + s^2/2``
    and the rest's softmax-weighted mean logit is ``mu + s^2 = rest_logit + g``, ``g = s^2/2``.
    ``g = 0``: R equal logits. With ``k = C`` it is :func:`entropy_scores`,
    :func:`max_scores` and :func:`predicted_labels` of the full softmax.

    Parameters
    ----------
    index:
        ``(N, k)`` integer classes of the slots (each row distinct classes in ``0..C-1``).
    mean_logits:
        ``(N, k)`` finite mean logits of those classes.
    rest_logit:
        ``(N,)`` log-mean-exp of the remaining classes' logits (ignored when ``k = C``); finite.
    num_classes:
        C.
    rest_spread:
        ``(N,)`` ``g >= 0`` as above; default 0 (every remaining class at ``rest_logit``).

    Returns
    -------
    entropy, max_score, predicted:
        ``(N,)`` float64 entropy in bits, ``(N,)`` float64 highest class probability, and
        ``(N,)`` int64 argmax class (ties: the lowest class index; the slots, since a slot
        class is never below the rest's logit by construction, else still the best slot).
    """
    index = np.asarray(index)
    mean = as_matrix(mean_logits, "sparse mean logits")
    rest = np.asarray(rest_logit, dtype=np.float64)
    spread = np.zeros(len(mean)) if rest_spread is None else np.asarray(rest_spread, dtype=np.float64)
    if index.shape != mean.shape or rest.shape != (len(mean),) or spread.shape != (len(mean),):
        raise ReidPruneError(f"sparse soft labels need index and mean logits of one shape (N, k) and a rest "
                             f"logit and spread of shape (N,), got {index.shape}, {mean.shape}, {rest.shape} "
                             f"and {spread.shape}")
    num_rest = num_classes - mean.shape[1]
    if num_rest < 0:
        raise ReidPruneError(f"{mean.shape[1]} slots for only {num_classes} classes")
    if num_rest and not (np.isfinite(rest).all() and np.isfinite(spread).all() and (spread >= 0).all()):
        raise ReidPruneError("rest logits must be finite and rest spreads finite and >= 0; check the "
                             "training run that recorded them")
    top = mean.max(axis=1)
    shift = np.maximum(top, rest) if num_rest else top
    head = np.exp(mean - shift[:, None])
    tail = num_rest * np.exp(rest - shift) if num_rest else np.zeros(len(mean))
    log_total = np.log(head.sum(axis=1) + tail)  # log Z - shift
    # H = log Z - sum_j p_j z_j, in the shifted frame, converted to bits.
    expected_logit = ((head * (mean - shift[:, None])).sum(axis=1)
                      + (tail * (rest + spread - shift) if num_rest else 0.0)) / np.exp(log_total)
    entropy = np.maximum((log_total - expected_logit) / np.log(2.0), 0.0)
    max_score = np.exp(top - shift - log_total)
    if num_rest:
        max_score = np.maximum(max_score, np.exp(rest - shift - log_total))
    best = np.where(mean == top[:, None], index, np.iinfo(np.int64).max).min(axis=1)
    return entropy, max_score, best.astype(np.int64)
