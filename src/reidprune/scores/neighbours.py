"""A neighbour vote in embedding space, to combine with the soft label (beyond the paper).

The paper's soft label is the model's own view of a sample. A ReID set has several images of
each identity, and a mislabeled image's nearest neighbours in the BNNeck embedding are mostly
images of its true identity, which mostly carry their right label. The vote of the k nearest
neighbours' given labels (cosine similarity, the sample itself excluded) is a second,
independent estimate of the sample's identity; :func:`combine` mixes it with the soft label.
Arrays in, arrays out; nothing here trains.
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.scores.entropy import entropy_scores, soft_labels


def neighbour_votes(embeddings: np.ndarray, labels: np.ndarray, num_classes: int, k: int = 10,
                    chunk: int = 2048) -> np.ndarray:
    """Each sample's similarity-weighted vote of its k nearest neighbours' labels.

    Parameters
    ----------
    embeddings: N x D features (any scale: rows are L2-normalised here).
    labels: the N given labels, in ``0..num_classes-1``.
    num_classes: C.
    k: neighbours per sample (excluding itself); a few fewer than the images per identity.
    chunk: rows of the N x N similarity computed at a time (memory: chunk x N floats).

    Returns
    -------
    N x C array whose rows sum to 1: the share of the neighbours' (non-negative) cosine
    similarity that votes for each class. A sample whose neighbours all have similarity <= 0
    gets a uniform row.
    """
    x = np.asarray(embeddings, dtype=np.float32)
    labels = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(labels):
        raise ReidPruneError(f"need N x D embeddings and N labels, got shapes {x.shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ReidPruneError(f"labels must lie in 0..{num_classes - 1}")
    n = len(x)
    if not 1 <= k < n:
        raise ReidPruneError(f"k must lie in 1..{n - 1} (the other samples), got {k}")
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    votes = np.zeros((n, num_classes), dtype=np.float64)
    for start in range(0, n, chunk):
        sim = x[start:start + chunk] @ x.T
        rows = np.arange(len(sim))
        sim[rows, start + rows] = -np.inf  # never one's own neighbour
        idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        weight = np.clip(np.take_along_axis(sim, idx, 1), 0.0, None)
        np.add.at(votes, (np.repeat(start + rows, k), labels[idx].ravel()), weight.ravel())
    total = votes.sum(1, keepdims=True)
    return np.where(total > 0, votes / np.where(total > 0, total, 1.0), 1.0 / num_classes)


def combine(soft_labels: np.ndarray, votes: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """``(1 - weight) * soft_labels + weight * votes``: still a distribution per row."""
    if not 0.0 <= weight <= 1.0:
        raise ReidPruneError(f"weight must lie in [0, 1], got {weight}")
    soft, votes = np.asarray(soft_labels, dtype=np.float64), np.asarray(votes, dtype=np.float64)
    if soft.shape != votes.shape:
        raise ReidPruneError(f"soft labels {soft.shape} and votes {votes.shape} differ in shape")
    return (1.0 - weight) * soft + weight * votes


def default_k(labels: np.ndarray, num_classes: int) -> int:
    """Half the median number of images per identity (at least 1, at most N - 1): a vote among an
    identity's own images, the sample itself left out."""
    labels = np.asarray(labels)
    k = max(1, int(np.median(np.bincount(labels, minlength=num_classes))) // 2)
    return min(k, len(labels) - 1)


def knn_entropy(mean_logits: np.ndarray, embeddings: np.ndarray, labels: np.ndarray, num_classes: int, k: int,
                weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``entropy_knn``: the soft label (softmax of ``mean_logits``) mixed with the neighbour vote.

    A row of ``mean_logits`` with a non-finite value was never recorded: it keeps its label, is
    never flagged and is kept first (importance above every recorded one).

    Returns
    -------
    (mixed N x C distributions, importance = their entropy, predicted label, max score; NaN
    where unrecorded).
    """
    mean_logits, labels = np.asarray(mean_logits), np.asarray(labels)
    recorded = np.isfinite(mean_logits).all(1)
    soft = soft_labels(np.where(recorded[:, None], mean_logits, 0.0))
    mixed = combine(soft, neighbour_votes(embeddings, labels, num_classes, k=k), weight)
    importance = entropy_scores(mixed)
    if not recorded.all():
        importance[~recorded] = importance[recorded].max() + 1.0
    return (mixed, importance, np.where(recorded, mixed.argmax(1), labels),
            np.where(recorded, mixed.max(1), np.nan))
