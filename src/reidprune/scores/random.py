"""Random pruning baseline: a seeded uniform score per sample.

Higher score = more important = kept; pruning the lowest scores of uniform random numbers
removes a uniformly random subset, the baseline every pruning method must beat.
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError


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
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ReidPruneError(f"num_samples must be a positive integer, got {num_samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ReidPruneError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed)).random(int(num_samples))
