"""Outliers (max soft label <= delta) and mislabeled samples (argmax != label)."""
from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.select.purify import (find_mislabeled, find_outliers, outlier_fraction_warning,
                                     outlier_threshold)


def _row(top: float, num_classes: int) -> np.ndarray:
    rest = (1.0 - top) / (num_classes - 1)
    return np.array([top] + [rest] * (num_classes - 1))


def test_absolute_delta_is_inclusive():
    probs = np.stack([_row(0.10, 10), _row(0.11, 10), _row(0.9, 10), np.full(10, 0.1)])
    np.testing.assert_array_equal(find_outliers(probs), [True, False, False, True])
    np.testing.assert_array_equal(find_outliers(probs, delta=0.05), [False, False, False, False])


def test_delta_relative_to_chance_is_a_multiple_of_one_over_c():
    probs = np.stack([_row(0.15, 20), _row(0.16, 20), _row(0.05, 20)])  # chance = 0.05
    np.testing.assert_array_equal(find_outliers(probs, delta=3, relative_to_chance=True), [True, False, True])
    np.testing.assert_array_equal(find_outliers(probs, delta=1, relative_to_chance=True),
                                  [False, False, True])
    assert outlier_threshold(20, 3, relative_to_chance=True) == pytest.approx(0.15)
    assert outlier_threshold(20, 0.1) == 0.1


@pytest.mark.parametrize("num_classes, delta, relative", [
    (10, 1.0, False), (10, -0.1, False), (10, 10, True), (10, float("nan"), False), (0, 0.1, False),
])
def test_invalid_thresholds_are_refused(num_classes, delta, relative):
    with pytest.raises(ReidPruneError):
        outlier_threshold(num_classes, delta, relative)


def test_outlier_fraction_warning():
    assert outlier_fraction_warning(np.array([True, True] + [False] * 8)) is None  # 20% = limit
    message = outlier_fraction_warning(np.array([True] * 3 + [False] * 7))
    assert message.startswith("3 of 10 samples (30.0%) are flagged as outliers")
    assert "relative to chance" in message
    assert outlier_fraction_warning(np.array([True] + [False] * 9), limit=0.05) is not None
    assert outlier_fraction_warning(np.zeros(0, dtype=bool)) is None
    with pytest.raises(ReidPruneError, match="limit"):
        outlier_fraction_warning(np.zeros(3, dtype=bool), limit=1.5)
    with pytest.raises(ReidPruneError, match="bool"):
        outlier_fraction_warning(np.array([0, 1]))


def test_find_mislabeled():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    mask, predicted = find_mislabeled(probs, np.array([0, 1, 1, 1]))
    np.testing.assert_array_equal(mask, [False, True, False, True])
    np.testing.assert_array_equal(predicted, [0, 2, 1, 0])
    assert predicted.dtype == np.int64


@pytest.mark.parametrize("labels, match", [
    (np.array([0, 1]), "1-D array of 3"),
    (np.array([0, 1, 3]), "0..2"),
    (np.array([0, -1, 1]), "0..2"),
    (np.array([0.0, 1.0, 1.0]), "integers"),
])
def test_find_mislabeled_refuses_bad_labels(labels, match):
    probs = np.full((3, 3), 1 / 3)
    with pytest.raises(ReidPruneError, match=match):
        find_mislabeled(probs, labels)


def test_purification_flags_by_hand():
    from reidprune.select.purify import purification_flags

    predicted = np.array([0, 1, 2, 0, 1])
    max_score = np.array([0.9, 0.05, 0.6, np.nan, 0.02])
    labels = np.array([0, 0, 2, 1, 1])
    judged = np.array([True, True, True, True, False])  # sample 4: a probe, never flagged
    mislabeled, outliers = purification_flags(predicted, max_score, labels, 0.05, judged)
    assert mislabeled.tolist() == [False, True, False, False, False]  # 3 was never recorded
    assert outliers.tolist() == [False, True, False, False, False]


def test_too_many_outliers_is_refused_with_the_ways_out():
    from reidprune.select.purify import check_outlier_share

    mask = np.array([True] * 3 + [False] * 7)
    check_outlier_share(mask, 0.3, 0.03)  # 30% = the limit: accepted
    with pytest.raises(ReidPruneError, match=r"30% of the training set .*<= 0.03\), more than the allowed 20%.*"
                                             r"under-trained.*--max-outlier-fraction 1"):
        check_outlier_share(mask, 0.2, 0.03)
    with pytest.raises(ReidPruneError, match="stopped before it fitted"):
        check_outlier_share(mask, 0.2, 0.03, pretrained=True)
