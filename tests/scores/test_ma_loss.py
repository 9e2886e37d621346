from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.ma_loss import ma_loss_scores


def test_ma_loss_scores_are_the_ema_loss():
    ema = np.array([0.2, 1.5, 0.0], dtype=np.float32)
    scores = ma_loss_scores(ema)
    np.testing.assert_array_equal(scores, [np.float32(0.2), 1.5, 0.0])
    assert scores.dtype == np.float64
    scores[0] = 9.0
    assert ema[0] == np.float32(0.2)  # a copy, not a view


@pytest.mark.parametrize("ema", [np.array([0.1, -0.5]), np.array([np.nan]), np.zeros((2, 2))])
def test_ma_loss_scores_validate(ema):
    with pytest.raises(ReidPruneError):
        ma_loss_scores(ema)
