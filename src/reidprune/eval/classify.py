"""Classification metric: top-1 accuracy (CIFAR-100, CUB-200-2011 experiments)."""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError


def _to_numpy(values) -> np.ndarray:
    """A numpy view of a numpy array, list or (CPU or GPU) torch tensor."""
    if hasattr(values, "detach"):  # torch tensor; avoids importing torch here
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _check_integers(array: np.ndarray, name: str) -> np.ndarray:
    # An empty list arrives as float64; emptiness is reported by the caller instead.
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ReidPruneError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _predicted_classes(array: np.ndarray) -> np.ndarray:
    """Predicted class per sample from N x C scores (argmax) or N predictions (as is)."""
    if array.ndim == 1:
        return _check_integers(array, "predictions")
    if array.ndim != 2:
        raise ReidPruneError(
            "logits_or_predictions must be N x C scores or N class predictions, "
            f"got shape {array.shape}"
        )
    if array.shape[1] == 0:
        raise ReidPruneError("scores have 0 classes (shape N x 0); pass N x C logits with C >= 1")
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise ReidPruneError(
            "scores contain NaN, infinite or non-numeric values; check the model output"
        )
    # argmax picks the lowest class index among tied maxima.
    return np.argmax(array, axis=1)


def top1_accuracy(logits_or_predictions, labels) -> float:
    """Fraction of samples whose predicted class equals the label.

    Parameters
    ----------
    logits_or_predictions:
        Either an N x C array or torch tensor of scores (logits or probabilities; the
        prediction is the argmax, lowest index on ties), or N integer class predictions.
    labels:
        N integer true classes.

    Returns
    -------
    float
        Top-1 accuracy in [0, 1].

    Raises
    ------
    ReidPruneError
        If the input is empty, the lengths differ, or a label is outside 0..C-1 when
        scores are given.
    """
    scores = _to_numpy(logits_or_predictions)
    predictions = _predicted_classes(scores)
    label_array = _to_numpy(labels)
    if label_array.ndim != 1:
        raise ReidPruneError(f"labels must be a 1-D array, got shape {label_array.shape}")
    if len(predictions) == 0:
        raise ReidPruneError("no samples to score: predictions and labels are empty")
    if len(predictions) != len(label_array):
        raise ReidPruneError(
            f"got {len(predictions)} predictions but {len(label_array)} labels; "
            "pass one prediction per labelled sample, in the same order"
        )
    label_array = _check_integers(label_array, "labels")
    if scores.ndim == 2:
        num_classes = scores.shape[1]
        outside = (label_array < 0) | (label_array >= num_classes)
        if outside.any():
            raise ReidPruneError(
                f"label {int(label_array[outside][0])} is outside 0..{num_classes - 1} "
                f"(the scores have {num_classes} classes); pass training labels, not raw ids"
            )
    return float(np.mean(predictions == label_array))
