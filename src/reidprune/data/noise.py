"""Label noise: symmetric (the paper's "random label noise" on Market-1501, 10-50%), pair-wise
(a wrong label from a similar-looking identity, the common real case), and known-noise probes.

Probes are a few samples given a known wrong label in the scoring run only
(:func:`choose_probes`): how the model treats them measures, on the user's own data, when it
starts memorising wrong labels and how well the soft labels find them
(:mod:`reidprune.select.calibration`). Their true label is restored afterwards.
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import as_labels, check_int, check_number


def inject_symmetric_noise(labels, rate: float, num_classes: int,
                           seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flip a fixed fraction of labels, each to a uniformly drawn *different* class.

    Parameters
    ----------
    labels:
        1-D integer array of training labels in ``0..num_classes-1``.
    rate:
        Fraction of samples to flip, in ``[0, 1)``. Exactly ``round(rate * N)`` samples are
        flipped (Python's ``round``: halves go to the even integer).
    num_classes:
        Number of classes C (at least 2, so that a different class exists).
    seed:
        Seed of ``numpy.random.default_rng``: the same seed gives the same noise.

    Returns
    -------
    noisy_labels:
        int64 array; flipped samples hold a label drawn uniformly from the other C-1
        classes, the rest are unchanged.
    flipped:
        Boolean mask of the flipped samples (``noisy_labels != labels`` exactly there).
    """
    labels = check_labels(labels, num_classes)
    rate = check_number(rate, "noise rate", 0.0, 1.0, max_open=True)
    seed = check_int(seed, "seed", minimum=0)
    count = int(round(float(rate) * len(labels)))
    rng = np.random.default_rng(int(seed))
    chosen = rng.choice(len(labels), size=count, replace=False)
    # Adding 1..C-1 modulo C reaches every other class exactly once: uniform over the C-1.
    offsets = rng.integers(1, num_classes, size=count) if count else np.zeros(0, dtype=np.int64)
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + offsets) % num_classes
    flipped = np.zeros(len(labels), dtype=np.bool_)
    flipped[chosen] = True
    return noisy, flipped


def check_labels(labels, num_classes: int) -> np.ndarray:
    """``labels`` as a 1-D int64 array in ``0..num_classes-1``, or a :class:`ReidPruneError`."""
    num_classes = check_int(num_classes, "num_classes", minimum=2)
    return as_labels(labels, num_classes=num_classes)


def nearest_classes(embeddings, labels, num_classes: int) -> np.ndarray:
    """Each class's most similar other class: cosine similarity of the class mean embeddings.

    Parameters
    ----------
    embeddings: ``(N, D)`` features (e.g. an ImageNet backbone's, before any training).
    labels: ``(N,)`` labels in ``0..num_classes-1``.
    num_classes: C (at least 2).

    Returns
    -------
    ``(C,)`` int64: the nearest other class of each class (a class without samples gets the
    next class, ``(c + 1) % C``).
    """
    labels = check_labels(labels, num_classes)
    feats = np.asarray(embeddings, dtype=np.float64)
    if feats.ndim != 2 or len(feats) != len(labels):
        raise ReidPruneError(f"need (N, D) embeddings for N={len(labels)} labels, got shape {feats.shape}")
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    centroids = np.zeros((num_classes, feats.shape[1]))
    np.add.at(centroids, labels, feats)
    present = np.bincount(labels, minlength=num_classes) > 0
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    similarity = centroids @ centroids.T
    similarity[:, ~present] = -np.inf
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(1)
    fallback = (np.arange(num_classes) + 1) % num_classes
    return np.where(np.isfinite(similarity.max(1)), nearest, fallback).astype(np.int64)


def inject_pairwise_noise(labels, rate: float, nearest, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Flip a fixed fraction of labels to their class's most similar class (``nearest[label]``).

    Parameters and returns as :func:`inject_symmetric_noise`; ``nearest`` is the ``(C,)`` map of
    :func:`nearest_classes`.
    """
    nearest = np.asarray(nearest, dtype=np.int64)
    labels = check_labels(labels, len(nearest))
    rate = check_number(rate, "noise rate", 0.0, 1.0, max_open=True)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    chosen = rng.choice(len(labels), size=int(round(float(rate) * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[chosen] = nearest[labels[chosen]]
    return noisy, noisy != labels


def probe_count(labels, fraction: float = 0.05, most: int = 400, least: int = 30, ceiling: float = 0.10) -> int:
    """How many probes a set gets: ``fraction`` of it, at least ``least`` (the estimates need
    them) while that stays under ``ceiling`` of the images, at most ``most``, one per class.

    400 probes estimate a share to within +/-0.05 (95%, worst case p = 0.5); more adds noise to
    the scoring run without making the estimates much better. A small set gets up to ``ceiling``
    of its images as probes so that it still reaches ``least``; below that it gets fewer and the
    calibrated stop is not used (:func:`reidprune.pipeline.options.default_stop`).
    """
    labels = np.asarray(labels)
    classes = len(np.unique(labels)) if len(labels) else 0
    wanted = max(round(fraction * len(labels)), min(least, int(ceiling * len(labels))))
    return int(min(wanted, most, classes))


def choose_probes(labels, num_classes: int, count: int, seed: int,
                  nearest=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick ``count`` probes, at most one per class, and give each a known wrong label.

    Half of them (all when ``nearest`` is None) get a uniformly drawn other class, the rest the
    most similar class ``nearest[label]`` (:func:`nearest_classes`), so the probes span both
    kinds of real label error.

    Returns
    -------
    mask: ``(N,)`` bool, True for the probes.
    probe_labels: ``(N,)`` int64, the labels to train with (the wrong label for probes, the
    given label elsewhere).
    similar: ``(N,)`` bool, True for the probes given the most similar class.
    """
    labels = check_labels(labels, num_classes)
    count = check_int(count, "probe count", minimum=0)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    order = rng.permutation(len(labels))
    _, first = np.unique(labels[order], return_index=True)  # one random sample of each class
    candidates = order[first]
    if count > len(candidates):
        raise ReidPruneError(f"{count} probes asked for but only {len(candidates)} classes (one probe per class)")
    chosen = rng.choice(candidates, size=count, replace=False)
    trained = labels.copy()
    offsets = rng.integers(1, num_classes, size=count) if count else np.zeros(0, dtype=np.int64)
    trained[chosen] = (labels[chosen] + offsets) % num_classes
    similar = np.zeros(len(labels), dtype=np.bool_)
    if nearest is not None and count:
        picked = chosen[: count // 2]
        trained[picked] = np.asarray(nearest, dtype=np.int64)[labels[picked]]
        similar[picked] = True
    mask = np.zeros(len(labels), dtype=np.bool_)
    mask[chosen] = True
    return mask, trained, similar
