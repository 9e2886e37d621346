from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.random import random_scores


def test_random_scores_are_seeded_uniform():
    a = random_scores(1000, seed=3)
    np.testing.assert_array_equal(a, random_scores(1000, seed=3))
    np.testing.assert_array_equal(a, np.random.default_rng(3).random(1000))
    assert not np.array_equal(a, random_scores(1000, seed=4))
    assert a.shape == (1000,) and a.min() >= 0.0 and a.max() < 1.0
    # Uniform: each decile holds about a tenth of the samples.
    counts = np.histogram(a, bins=10, range=(0, 1))[0]
    assert counts.min() > 60 and counts.max() < 140


@pytest.mark.parametrize("num_samples, seed", [(0, 1), (-3, 1), (2.5, 1), (10, -1), (10, 1.5)])
def test_random_scores_validate(num_samples, seed):
    with pytest.raises(ReidPruneError):
        random_scores(num_samples, seed)
