"""Area under the margin (Pleiss et al., 2020, "Identifying Mislabeled Data using the Area
Under the Margin Ranking").

AUM(x, y) = mean over epochs of z_y(x) - max_{j != y} z_j(x), computed on the LOGITS
(recorded by :class:`reidprune.dynamics.trackers.AUMTracker`). Low AUM = the assigned class
keeps losing = hard or likely mislabeled. As an importance score we use -AUM, so that higher
= harder = kept under the project's convention.

Flagging mislabeled samples needs a threshold, found with *threshold samples*: before
training, floor(N / (C + 1)) random samples are moved to a fake extra class C
(:func:`make_threshold_labels`); the model is trained with C + 1 outputs; these samples are
mislabeled by construction, and the 99th percentile of their AUM (:func:`aum_threshold`) is
the threshold below which a real sample is flagged (:func:`flag_mislabeled_aum`). The
threshold samples' own AUMs say nothing about their true labels, so they are excluded from
flagging; Pleiss et al. cover them with a second run using a different set of threshold
samples (another ``seed``). The TMLR paper tunes the threshold this way (appendix A.5).
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError


def _check_aum(aum: np.ndarray) -> np.ndarray:
    aum = np.asarray(aum, dtype=np.float64)
    if aum.ndim != 1:
        raise ReidPruneError(f"aum must be 1-D (N,), got shape {aum.shape}")
    if not np.isfinite(aum).all():
        raise ReidPruneError("aum contains NaN or infinity; lower the learning rate or disable mixed precision")
    return aum


def _check_mask(mask: np.ndarray, size: int, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != (size,) or mask.dtype != np.bool_:
        raise ReidPruneError(f"{name} must be a boolean array of shape ({size},), got {mask.dtype} {mask.shape}")
    return mask


def aum_scores(aum: np.ndarray) -> np.ndarray:
    """Importance = -AUM.

    Parameters
    ----------
    aum:
        float (N,): mean margin per sample (``AUMTracker.aum()``).

    Returns
    -------
    np.ndarray
        float64 (N,). Higher = lower AUM = harder or likely mislabeled = kept.
    """
    return -_check_aum(aum)


def make_threshold_labels(labels: np.ndarray, num_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Move floor(N / (C + 1)) random samples to the fake class ``C`` (Pleiss et al., 2020).

    Parameters
    ----------
    labels:
        int (N,): assigned labels in 0..C-1.
    num_classes:
        C, the number of real classes; the fake class gets index C, so the model trained on
        the new labels needs C + 1 outputs.
    seed:
        Seed choosing the threshold samples.

    Returns
    -------
    new_labels:
        int64 (N,): ``labels`` with the threshold samples set to C.
    is_threshold:
        bool (N,): which samples are threshold samples.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ReidPruneError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    if num_classes < 2:
        raise ReidPruneError(f"num_classes must be >= 2, got {num_classes}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ReidPruneError(
            f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}")
    count = len(labels) // (num_classes + 1)
    if count == 0:
        raise ReidPruneError(
            f"{len(labels)} samples are too few for threshold samples with {num_classes} classes "
            f"(need at least {num_classes + 1})")
    chosen = np.random.default_rng(seed).choice(len(labels), size=count, replace=False)
    is_threshold = np.zeros(len(labels), dtype=bool)
    is_threshold[chosen] = True
    new_labels = labels.astype(np.int64)
    new_labels[is_threshold] = num_classes
    return new_labels, is_threshold


def aum_threshold(aum: np.ndarray, is_threshold: np.ndarray, percentile: float = 99.0) -> float:
    """The ``percentile``-th percentile of the threshold samples' AUM (Pleiss et al.: 99).

    Parameters
    ----------
    aum:
        float (N,): AUM of every sample from the run with threshold samples.
    is_threshold:
        bool (N,): the threshold samples (from :func:`make_threshold_labels`).
    percentile:
        In [0, 100]; 99 means 99% of the (surely mislabeled) threshold samples fall at or
        below the threshold.

    Returns
    -------
    float
        The AUM threshold (linear interpolation between order statistics, as ``np.percentile``).
    """
    aum = _check_aum(aum)
    is_threshold = _check_mask(is_threshold, len(aum), "is_threshold")
    if not 0.0 <= percentile <= 100.0:
        raise ReidPruneError(f"percentile must be in [0, 100], got {percentile}")
    if not is_threshold.any():
        raise ReidPruneError("is_threshold marks no sample; build it with make_threshold_labels")
    return float(np.percentile(aum[is_threshold], percentile))


def flag_mislabeled_aum(aum: np.ndarray, threshold: float, exclude: np.ndarray | None = None) -> np.ndarray:
    """Flag samples with AUM <= threshold as likely mislabeled.

    Parameters
    ----------
    aum:
        float (N,): AUM of every sample.
    threshold:
        From :func:`aum_threshold`.
    exclude:
        bool (N,) or None: samples never flagged (pass ``is_threshold``: their labels were
        changed on purpose).

    Returns
    -------
    np.ndarray
        bool (N,): True = likely mislabeled.
    """
    aum = _check_aum(aum)
    if not np.isfinite(threshold):
        raise ReidPruneError(f"threshold must be a finite number, got {threshold}")
    flagged = aum <= threshold
    if exclude is not None:
        flagged &= ~_check_mask(exclude, len(aum), "exclude")
    return flagged
