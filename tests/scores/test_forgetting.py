from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.forgetting import forgetting_scores


def test_never_learned_scores_above_every_learned_sample():
    forgets = np.array([0, 3, 1, 0, 0, 0])
    ever = np.array([True, True, True, False, True, False])
    scores = forgetting_scores(forgets, ever, seed=0)
    # learned max = 3, so never-learned samples get 4 + jitter
    assert scores[[3, 5]].min() > scores[ever].max()
    np.testing.assert_array_equal(np.floor(scores), [0, 3, 1, 4, 0, 4])


def test_scores_are_counts_plus_jitter_below_half():
    forgets = np.array([0, 3, 1, 0, 0])
    ever = np.array([True, True, True, False, True])
    scores = forgetting_scores(forgets, ever, seed=0)
    base = np.array([0.0, 3.0, 1.0, 4.0, 0.0])  # never learned -> max learned (3) + 1
    jitter = scores - base
    assert (jitter >= 0).all() and (jitter < 0.5).all()
    np.testing.assert_allclose(jitter, np.random.default_rng(0).uniform(0, 0.5, 5))


def test_ties_broken_at_random_by_seed():
    forgets = np.zeros(200, dtype=np.int64)
    ever = np.ones(200, dtype=bool)
    a = forgetting_scores(forgets, ever, seed=1)
    np.testing.assert_array_equal(a, forgetting_scores(forgets, ever, seed=1))
    assert len(np.unique(a)) == 200
    assert not np.array_equal(np.argsort(a), np.argsort(forgetting_scores(forgets, ever, seed=2)))


def test_nobody_learned_all_score_one():
    scores = forgetting_scores(np.zeros(3, dtype=np.int64), np.zeros(3, dtype=bool), seed=0)
    assert (np.floor(scores) == 1).all()


@pytest.mark.parametrize("forgets, ever", [
    (np.array([1, 0]), np.array([False, True])),   # events without ever being correct
    (np.array([-1, 0]), np.array([True, True])),
    (np.array([1.5, 0]), np.array([True, True])),
    (np.array([1, 0]), np.array([1, 0])),           # not boolean
    (np.array([1, 0]), np.array([True])),
])
def test_forgetting_scores_validate(forgets, ever):
    with pytest.raises(ReidPruneError):
        forgetting_scores(forgets, ever, seed=0)
