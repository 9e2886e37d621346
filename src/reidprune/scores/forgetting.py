"""Forgetting score (Toneva et al., 2018, "An Empirical Study of Example Forgetting").

The score is the number of forgetting events of a sample over a full training run: a
presentation where the sample is misclassified although it was classified correctly at its
previous presentation (counted by :class:`reidprune.dynamics.trackers.ForgettingTracker`).
More forgetting = harder = more important = kept.

Samples that were NEVER classified correctly have no forgetting event but are the hardest of
all: as in Toneva et al. they rank above every learned sample (some public coreset libraries
give them 0 and prune them first, which is a bug). Ties (above all the many samples with 0
events) are broken at random with a seed.
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import check_int


def forgetting_scores(forgets: np.ndarray, ever_correct: np.ndarray, seed: int) -> np.ndarray:
    """Forgetting counts with never-learned samples on top and seeded random tie-breaking.

    score = forgets                    for samples classified correctly at least once,
    score = max(learned forgets) + 1   for samples never classified correctly,
    plus a seeded jitter in [0, 0.5) that orders ties at random without ever crossing an
    integer step (so the ranking of different counts is unchanged).

    Parameters
    ----------
    forgets:
        int (N,) >= 0: forgetting events per sample (``ForgettingTracker.forgets``).
    ever_correct:
        bool (N,): whether the sample was ever classified correctly
        (``ForgettingTracker.ever_correct``).
    seed:
        Seed of the tie-breaking jitter.

    Returns
    -------
    np.ndarray
        float64 (N,). Higher = harder = kept.
    """
    forgets = np.asarray(forgets)
    ever_correct = np.asarray(ever_correct)
    if forgets.ndim != 1:
        raise ReidPruneError(f"forgets must be 1-D (N,), got shape {forgets.shape}")
    if ever_correct.shape != forgets.shape:
        raise ReidPruneError(
            f"ever_correct has shape {ever_correct.shape} but forgets has {forgets.shape}")
    if ever_correct.dtype != np.bool_:
        raise ReidPruneError(f"ever_correct must be boolean, got dtype {ever_correct.dtype}")
    if forgets.size and not np.issubdtype(forgets.dtype, np.integer):
        raise ReidPruneError(f"forgets must be integer counts, got dtype {forgets.dtype}")
    if (forgets < 0).any():
        raise ReidPruneError("forgets contains negative counts; pass ForgettingTracker.forgets")
    if (forgets[~ever_correct] > 0).any():
        raise ReidPruneError(
            "a sample that was never correct has forgetting events; forgets and ever_correct "
            "must come from the same ForgettingTracker")
    seed = check_int(seed, "seed", minimum=0)
    scores = forgets.astype(np.float64)
    learned_max = scores[ever_correct].max() if ever_correct.any() else 0.0
    scores[~ever_correct] = learned_max + 1.0
    return scores + np.random.default_rng(int(seed)).uniform(0.0, 0.5, size=len(scores))
