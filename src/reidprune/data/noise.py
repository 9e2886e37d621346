"""Symmetric label noise, the paper's "random label noise" on Market-1501 (10-50%)."""
from __future__ import annotations

import numpy as np

from reidprune.validation import as_labels, check_int, check_number


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
