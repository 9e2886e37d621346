"""Random pruning baseline: a seeded uniform score per sample.

Higher score = more important = kept; pruning the lowest scores of uniform random numbers
removes a uniformly random subset, the baseline every pruning method must beat.
"""
from __future__ import annotations

import numpy as np

from reidprune.validation.arrays import check_int


def random_scores(num_samples: int, seed: int) -> np.ndarray:
    """Uniform random scores in [0, 1), reproducible from ``seed``.

    Parameters
    ----------
    num_samples:
        N, the number of training samples (>= 1).
    seed:
        Seed of the NumPy generator; the same seed gives the same scores.

    Returns
    -------
    np.ndarray
        float64 (N,). Higher = kept.
    """
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    return np.random.default_rng(check_int(seed, "seed", minimum=0)).random(num_samples)
