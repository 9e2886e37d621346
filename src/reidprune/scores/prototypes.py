"""Supervised prototype score (Sorscher et al., 2022, "Beyond neural scaling laws"),
supervised variant as in the TMLR paper's appendix A.2.

Each sample's embedding (the BNNeck feature of a fully trained model) is L2-normalised; its
class centroid is the mean of the class's normalised embeddings, itself L2-normalised; the
score is the distance of the sample to its centroid. Far from the prototype = hard = more
important = kept.

The paper's appendix says "L2 distance" while the method notes say cosine. With unit vectors
a and b, ||a - b||^2 = 2 - 2 cos(a, b), a strictly increasing function of (1 - cos), so both
metrics give the SAME ranking; ``metric`` only changes the scale of the scores.

The paper also applies Sorscher et al.'s 50% class balancing (no class loses more than half
its samples); that is a selection option (``class_balance=0.5``), not part of the score.
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError

METRICS = ("euclidean", "cosine")


def _normalise_rows(x: np.ndarray, what: str) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        bad = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise ReidPruneError(f"{what} {bad} has zero norm and cannot be normalised; check the features")
    return x / norms


def class_centroids(unit_embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised class centroids of unit-norm embeddings.

    Parameters
    ----------
    unit_embeddings:
        float (N, D), rows of norm 1.
    labels:
        int (N,): class of each row (any integers).

    Returns
    -------
    centroids:
        float64 (K, D): normalised mean of each class's rows, classes in sorted label order.
    index:
        int (N,): row of ``centroids`` for each sample.
    """
    classes, index = np.unique(labels, return_inverse=True)
    order = np.argsort(index, kind="stable")
    starts = np.searchsorted(index[order], np.arange(len(classes)))
    sums = np.add.reduceat(unit_embeddings[order], starts, axis=0)
    return _normalise_rows(sums, "class centroid of label"), index


def prototype_scores(embeddings: np.ndarray, labels: np.ndarray, metric: str = "euclidean") -> np.ndarray:
    """Distance of each normalised embedding to its normalised class centroid.

    Parameters
    ----------
    embeddings:
        float (N, D): BNNeck features of a fully trained model (any scale; rows are
        L2-normalised here).
    labels:
        int (N,): assigned identity of each sample.
    metric:
        ``"euclidean"`` (||a - c||, in [0, 2]; the paper's appendix) or ``"cosine"``
        (1 - cos(a, c), in [0, 2]; the method notes). Same ranking either way.

    Returns
    -------
    np.ndarray
        float64 (N,). Higher = further from the prototype = kept. A class with a single
        sample is its own centroid and scores 0.
    """
    if metric not in METRICS:
        raise ReidPruneError(f"metric must be one of {METRICS}, got {metric!r}")
    embeddings = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ReidPruneError(f"embeddings must have shape (N, D) with N >= 1, got {embeddings.shape}")
    if labels.shape != (embeddings.shape[0],):
        raise ReidPruneError(f"labels must have shape ({embeddings.shape[0]},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ReidPruneError(f"labels must be integers, got dtype {labels.dtype}")
    if not np.isfinite(embeddings).all():
        raise ReidPruneError("embeddings contain NaN or infinity; check the model that produced them")
    unit = _normalise_rows(embeddings, "embedding")
    centroids, index = class_centroids(unit, labels)
    nearest = centroids[index]
    if metric == "cosine":
        return 1.0 - np.clip(np.einsum("nd,nd->n", unit, nearest), -1.0, 1.0)
    return np.linalg.norm(unit - nearest, axis=1)
