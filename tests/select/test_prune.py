"""The paper's selection order on hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.select.prune import (class_floors, prune_order, ranking_most_difficult_first, select,
                                    select_with_report)


def _indices(selection, status):
    return np.flatnonzero(selection.status == status).tolist()


# easiest -> hardest: 9, 1, 5, 3, 7, 0, 8, 4, 6, 2
IMPORTANCE = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0])
LABELS = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])


def test_prune_order_and_ranking():
    np.testing.assert_array_equal(prune_order(IMPORTANCE), [9, 1, 5, 3, 7, 0, 8, 4, 6, 2])
    np.testing.assert_array_equal(ranking_most_difficult_first(IMPORTANCE), [2, 6, 4, 8, 0, 7, 3, 5, 1, 9])


def test_ties_are_broken_by_index():
    scores = np.array([1.0, 0.5, 1.0, 0.5, 1.0])
    np.testing.assert_array_equal(prune_order(scores), [1, 3, 0, 2, 4])
    np.testing.assert_array_equal(ranking_most_difficult_first(scores), [4, 2, 0, 3, 1])
    selection = select(np.zeros(5), np.zeros(5, dtype=int), count=3)
    assert _indices(selection, "pruned") == [0, 1, 2]


def test_outliers_count_towards_fraction_and_relabel_only_kept():
    outliers = np.zeros(10, dtype=bool)
    outliers[[2, 9]] = True  # one hard, one easy
    predicted = LABELS.copy()
    predicted[3] = 2  # kept -> relabelled
    predicted[5] = 0  # pruned -> stays pruned with its label
    predicted[2] = 1  # outlier -> stays outlier
    report = select_with_report(IMPORTANCE, LABELS, fraction=0.4, outliers=outliers, predicted=predicted)
    selection = report.selection
    assert _indices(selection, "outlier") == [2, 9]
    assert _indices(selection, "pruned") == [1, 5]
    assert _indices(selection, "relabelled") == [3]
    assert _indices(selection, "kept") == [0, 4, 6, 7, 8]
    np.testing.assert_array_equal(selection.labels, [0, 0, 0, 2, 1, 1, 2, 2, 2, 2])
    np.testing.assert_array_equal(selection.assigned, LABELS)
    assert selection.fraction_removed == pytest.approx(0.4)
    assert (report.target_removed, report.outliers, report.pruned, report.relabelled) == (4, 2, 2, 1)
    assert not report.outliers_exceed_target and report.shortfall == 0 and report.warnings() == []


def test_no_outliers_no_predicted_prunes_easiest_only():
    selection = select(IMPORTANCE, LABELS, fraction=0.4)
    assert _indices(selection, "pruned") == [1, 3, 5, 9]
    assert _indices(selection, "kept") == [0, 2, 4, 6, 7, 8]
    np.testing.assert_array_equal(selection.labels, LABELS)


def test_outliers_exceeding_target_are_all_removed_and_nothing_pruned():
    outliers = np.zeros(10, dtype=bool)
    outliers[[0, 4, 6]] = True
    report = select_with_report(IMPORTANCE, LABELS, fraction=0.2, outliers=outliers)
    assert _indices(report.selection, "outlier") == [0, 4, 6]
    assert _indices(report.selection, "pruned") == []
    assert report.outliers_exceed_target and report.target_removed == 2
    assert report.warnings()[0].startswith("3 outliers alone exceed the 2 samples to remove")


def test_count_equals_fraction_and_rounding():
    by_count = select(IMPORTANCE, LABELS, count=4)
    by_fraction = select(IMPORTANCE, LABELS, fraction=0.4)
    np.testing.assert_array_equal(by_count.status, by_fraction.status)
    assert select_with_report(IMPORTANCE, LABELS, fraction=0.25).target_removed == 3  # 2.5 -> 3
    assert select_with_report(IMPORTANCE, LABELS, fraction=0.24).target_removed == 2
    assert select_with_report(np.zeros(100), np.zeros(100, dtype=int), fraction=0.29).target_removed == 29
    assert select_with_report(IMPORTANCE, LABELS, count=10).pruned == 10
    assert _indices(select(IMPORTANCE, LABELS, fraction=0.0), "kept") == list(range(10))


def test_min_per_identity_prunes_other_samples_instead():
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    importance = np.arange(10.0)
    assert _indices(select(importance, labels, count=4), "pruned") == [0, 1, 2, 3]
    report = select_with_report(importance, labels, count=4, min_per_identity=2)
    assert _indices(report.selection, "pruned") == [0, 1, 6, 7]
    assert report.shortfall == 0
    report = select_with_report(importance, labels, count=5, min_per_identity=2)
    assert _indices(report.selection, "pruned") == [0, 1, 6, 7]
    assert report.shortfall == 1 and "only 4 of 5 samples" in report.warnings()[0]


def test_min_per_identity_counts_corrected_labels():
    labels = np.array([0, 0, 0, 1, 1, 1])
    predicted = np.array([0, 0, 0, 0, 1, 1])  # sample 3 will train as identity 0
    report = select_with_report(np.arange(6.0), labels, count=3, predicted=predicted, min_per_identity=2)
    assert _indices(report.selection, "pruned") == [0, 1]
    assert _indices(report.selection, "relabelled") == [3]
    assert _indices(report.selection, "kept") == [2, 4, 5]
    assert report.shortfall == 1
    # Counted on the assigned labels instead, identity 1 could lose sample 3.
    assert _indices(select(np.arange(6.0), labels, count=3, min_per_identity=2), "pruned") == [0, 3]


def test_small_identity_keeps_all_non_outlier_images():
    labels = np.array([0, 1, 1, 1, 1, 0, 0])
    outliers = np.array([False, False, False, False, False, True, False])
    report = select_with_report(np.arange(7.0), labels, count=4, outliers=outliers, min_per_identity=3)
    # identity 0: non-outliers {0, 6} < 3 -> all kept; identity 1: 4 images, floor 3 -> prune 1
    assert _indices(report.selection, "outlier") == [5]
    assert _indices(report.selection, "pruned") == [1]
    assert _indices(report.selection, "kept") == [0, 2, 3, 4, 6]
    assert report.shortfall == 2


def test_class_balance_floors():
    labels = np.array([0] * 8 + [1] * 2)
    importance = np.array([2, 3, 4, 5, 6, 7, 8, 9, 0, 1], dtype=float)  # class 1 is the easiest
    assert _indices(select(importance, labels, fraction=0.5), "pruned") == [0, 1, 2, 8, 9]
    # b = 0.5: class 0 keeps >= ceil(0.5 * 8 * 0.5) = 2, class 1 keeps >= ceil(0.5 * 2 * 0.5) = 1
    balanced = select(importance, labels, fraction=0.5, class_balance=0.5)
    assert _indices(balanced, "pruned") == [0, 1, 2, 3, 8]
    np.testing.assert_array_equal(class_floors(labels, class_balance=0.5, removed_share=0.5), [2, 1])


def test_full_class_balance_prunes_every_class_proportionally():
    labels = np.array([0] * 6 + [1] * 4)
    selection = select(np.arange(10.0), labels, fraction=0.5, class_balance=1.0)
    assert _indices(selection, "pruned") == [0, 1, 2, 6, 7]
    by_count = select(np.arange(10.0), labels, count=5, class_balance=1.0)
    np.testing.assert_array_equal(by_count.status, selection.status)
    # 0.5 * 10 * (1 - 0.4) is 3.0 in floats: the floor must not become 4
    np.testing.assert_array_equal(class_floors(np.zeros(10, dtype=int), class_balance=0.5,
                                               removed_share=0.4), [3])


def test_floors_combine_with_the_larger_winning():
    labels = np.array([0] * 6)
    np.testing.assert_array_equal(class_floors(labels, min_per_identity=4, class_balance=0.5,
                                               removed_share=0.5), [4])
    np.testing.assert_array_equal(class_floors(labels, min_per_identity=1, class_balance=1.0,
                                               removed_share=0.5), [3])
    np.testing.assert_array_equal(class_floors(labels, min_per_identity=9), [6])


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one"),
    ({"fraction": 0.2, "count": 2}, "exactly one"),
    ({"fraction": 1.0}, r"\[0, 1\)"),
    ({"fraction": -0.1}, r"\[0, 1\)"),
    ({"fraction": float("nan")}, r"\[0, 1\)"),
    ({"count": 11}, r"\[0, 10\]"),
    ({"count": 2.0}, "integer"),
    ({"count": 2, "outliers": np.zeros(10)}, "bool"),
    ({"count": 2, "outliers": np.zeros(9, dtype=bool)}, "10 entries"),
    ({"count": 2, "predicted": np.full(10, -1)}, "predicted labels"),
    ({"count": 2, "min_per_identity": -1}, "min_per_identity"),
    ({"count": 2, "class_balance": 1.5}, "class_balance"),
    ({"count": 2, "seed": "a"}, "seed"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ReidPruneError, match=match):
        select(IMPORTANCE, LABELS, **kwargs)


def test_invalid_scores_and_labels():
    with pytest.raises(ReidPruneError, match="finite"):
        select(np.array([0.1, np.nan]), np.array([0, 1]), count=1)
    with pytest.raises(ReidPruneError, match="1-D"):
        prune_order(np.zeros((2, 2)))
    with pytest.raises(ReidPruneError, match="training labels"):
        select(np.zeros(2), np.array([0, -1]), count=1)
    with pytest.raises(ReidPruneError, match="2 entries"):
        select(np.zeros(2), np.array([0, 1, 1]), count=1)
    with pytest.raises(ReidPruneError, match="integers"):
        select(np.zeros(2), np.array([0.0, 1.0]), count=1)


def test_empty_input():
    report = select_with_report(np.zeros(0), np.zeros(0, dtype=int), fraction=0.5, min_per_identity=2)
    assert len(report.selection) == 0 and report.removed == 0 and report.shortfall == 0
