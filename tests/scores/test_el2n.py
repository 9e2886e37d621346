from __future__ import annotations

import math

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.el2n import average_over_models, el2n_scores


def test_el2n_hand_computed():
    # p = [.5, .5], y = 0: error [-.5, .5], norm sqrt(.5)
    assert el2n_scores(np.array([[0.0, 0.0]]), np.array([0]))[0] == pytest.approx(math.sqrt(0.5))
    # p = [3, 1, 1] / 5 = [.6, .2, .2]
    #   y = 0: error [-.4, .2, .2], norm sqrt(.16 + .04 + .04) = sqrt(.24)
    #   y = 1: error [.6, -.8, .2], norm sqrt(.36 + .64 + .04) = sqrt(1.04)
    three = np.array([[math.log(3), 0.0, 0.0], [math.log(3), 0.0, 0.0]])
    np.testing.assert_allclose(el2n_scores(three, np.array([0, 1])), [math.sqrt(0.24), math.sqrt(1.04)])


def test_el2n_is_stable_for_huge_logits():
    scores = el2n_scores(np.array([[1000.0, 0.0], [1000.0, 0.0]]), np.array([0, 1]))
    np.testing.assert_allclose(scores, [0.0, math.sqrt(2.0)], atol=1e-12)


def test_average_over_models_hand_computed():
    np.testing.assert_allclose(average_over_models([np.array([1.0, 2.0]), np.array([3.0, 6.0])]), [2.0, 4.0])


@pytest.mark.parametrize("logits, labels", [
    (np.zeros((2, 3)), np.array([0, 3])),      # label out of range
    (np.zeros((2, 3)), np.array([0.0, 1.0])),  # float labels
    (np.zeros(3), np.array([0, 1, 2])),        # 1-D logits
    (np.array([[np.nan, 0.0]]), np.array([0])),
])
def test_el2n_validates(logits, labels):
    with pytest.raises(ReidPruneError):
        el2n_scores(logits, labels)


def test_average_over_models_validates():
    with pytest.raises(ReidPruneError, match="at least one"):
        average_over_models([])
    with pytest.raises(ReidPruneError, match="shape"):
        average_over_models([np.zeros(3), np.zeros(4)])
