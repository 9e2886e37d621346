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

from reidprune.validation import ROW_SUM_TOLERANCE, as_matrix, as_probabilities, softmax

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


#: Soft labels are probability rows; the check lives in :mod:`reidprune.validation`.
validate_soft_labels = as_probabilities
