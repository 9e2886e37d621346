from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.aum import aum_scores, aum_threshold, flag_mislabeled_aum, make_threshold_labels


def test_aum_scores_are_negated_aum():
    np.testing.assert_array_equal(aum_scores(np.array([2.0, -1.5, 0.0])), [-2.0, 1.5, 0.0])


def test_make_threshold_labels_moves_n_over_c_plus_one_samples_to_fake_class():
    labels = np.arange(23) % 3  # N = 23, C = 3 -> floor(23 / 4) = 5 threshold samples
    new_labels, is_threshold = make_threshold_labels(labels, num_classes=3, seed=0)
    assert is_threshold.sum() == 5
    assert (new_labels[is_threshold] == 3).all()
    np.testing.assert_array_equal(new_labels[~is_threshold], labels[~is_threshold])
    _, same = make_threshold_labels(labels, num_classes=3, seed=0)
    np.testing.assert_array_equal(same, is_threshold)
    _, other = make_threshold_labels(labels, num_classes=3, seed=1)
    assert not np.array_equal(other, is_threshold)


def test_aum_threshold_is_the_percentile_of_threshold_samples():
    aum = np.array([5.0, -1.0, -3.0, 4.0, -2.0, 0.0])
    is_threshold = np.array([False, True, True, False, True, False])
    # threshold samples' AUM sorted: -3, -2, -1. 50th percentile = -2;
    # 99th percentile = -2 + 0.98 * (-1 - -2) = -1.02 (linear interpolation).
    assert aum_threshold(aum, is_threshold, percentile=50) == pytest.approx(-2.0)
    assert aum_threshold(aum, is_threshold) == pytest.approx(-1.02)


def test_flag_mislabeled_excludes_threshold_samples():
    aum = np.array([5.0, -1.5, -3.0, 4.0, -2.0, -1.02])
    is_threshold = np.array([False, True, True, False, True, False])
    np.testing.assert_array_equal(flag_mislabeled_aum(aum, -1.02, exclude=is_threshold),
                                  [False, False, False, False, False, True])
    np.testing.assert_array_equal(flag_mislabeled_aum(aum, -1.02),
                                  [False, True, True, False, True, True])


def test_aum_validates():
    with pytest.raises(ReidPruneError, match="too few"):
        make_threshold_labels(np.array([0, 1]), num_classes=2, seed=0)
    with pytest.raises(ReidPruneError, match="0..1"):
        make_threshold_labels(np.array([0, 2, 1]), num_classes=2, seed=0)
    with pytest.raises(ReidPruneError, match="no sample"):
        aum_threshold(np.zeros(3), np.zeros(3, dtype=bool))
    with pytest.raises(ReidPruneError, match="boolean"):
        flag_mislabeled_aum(np.zeros(3), 0.0, exclude=np.zeros(3))
    with pytest.raises(ReidPruneError, match="NaN"):
        aum_scores(np.array([np.nan]))
