from __future__ import annotations

import numpy as np
import pytest
from cleanlab.filter import find_label_issues

from reidprune.errors import ReidPruneError
from reidprune.scores.confident import confident_learning_issues, kfold_indices


def noisy_problem(seed: int = 0, n: int = 90, classes: int = 3):
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % classes
    logits = rng.normal(size=(n, classes)) + 2.5 * np.eye(classes)[truth]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = truth.copy()
    flipped = rng.choice(n, size=n // 10, replace=False)
    labels[flipped] = (labels[flipped] + 1) % classes
    return labels, probs


def test_matches_cleanlab_find_label_issues_exactly():
    labels, probs = noisy_problem()
    mask, suggested = confident_learning_issues(labels, probs, n_jobs=1)
    np.testing.assert_array_equal(mask, find_label_issues(labels, probs, n_jobs=1))
    assert mask.sum() > 0
    np.testing.assert_array_equal(suggested, probs.argmax(axis=1))
    other, _ = confident_learning_issues(labels, probs, filter_by="confident_learning", n_jobs=1)
    np.testing.assert_array_equal(other, find_label_issues(labels, probs, filter_by="confident_learning", n_jobs=1))


def test_obviously_mislabeled_row_is_flagged_and_corrected():
    labels = np.repeat([0, 1, 2], 10)
    probs = np.full((30, 3), 0.05)
    probs[np.arange(30), labels] = 0.9
    probs[4] = [0.02, 0.96, 0.02]  # labelled 0, the model is sure it is 1
    mask, suggested = confident_learning_issues(labels, probs, n_jobs=1)
    assert np.flatnonzero(mask).tolist() == [4]
    assert suggested[4] == 1


def test_confident_learning_validates():
    with pytest.raises(ReidPruneError, match="sum to 1"):
        confident_learning_issues(np.array([0, 1]), np.array([[2.0, 1.0], [0.0, 3.0]]))
    with pytest.raises(ReidPruneError, match="mask"):
        confident_learning_issues(np.array([0, 1]), np.eye(2), return_indices_ranked_by="self_confidence")
    with pytest.raises(ReidPruneError, match="0..1"):
        confident_learning_issues(np.array([0, 2]), np.eye(2))


def test_kfold_indices_partition_and_stratify():
    labels = np.array([0] * 7 + [1] * 5 + [2] * 2 + [3] * 1 + [4] * 2)
    folds = kfold_indices(labels, k=3, seed=0)
    assert len(folds) == 3
    holdouts = np.concatenate([holdout for _, holdout in folds])
    np.testing.assert_array_equal(np.sort(holdouts), np.arange(len(labels)))  # each held out once
    for train, holdout in folds:
        np.testing.assert_array_equal(np.sort(np.concatenate([train, holdout])), np.arange(len(labels)))
        assert len(np.intersect1d(train, holdout)) == 0
    for label in (0, 1):  # classes with >= k samples: per-fold counts within one
        per_fold = [int((labels[holdout] == label).sum()) for _, holdout in folds]
        assert max(per_fold) - min(per_fold) <= 1
    sizes = [len(holdout) for _, holdout in folds]
    assert max(sizes) - min(sizes) <= 1  # small classes spread round-robin keep folds balanced
    again = kfold_indices(labels, k=3, seed=0)
    for (a, b), (c, d) in zip(folds, again):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_kfold_small_classes_are_spread_round_robin():
    labels = np.repeat(np.arange(6), 2)  # six identities with 2 images each, k = 4
    folds = kfold_indices(labels, k=4, seed=3)
    assert sorted(len(holdout) for _, holdout in folds) == [3, 3, 3, 3]
    for label in range(6):  # the two images of one identity never share a fold
        assert max(int((labels[holdout] == label).sum()) for _, holdout in folds) == 1


def test_kfold_validates():
    with pytest.raises(ReidPruneError, match="k must"):
        kfold_indices(np.array([0, 1, 0]), k=1, seed=0)
    with pytest.raises(ReidPruneError, match="k must"):
        kfold_indices(np.array([0, 1, 0]), k=4, seed=0)


def test_missing_cleanlab_says_how_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)  # makes the import fail
    with pytest.raises(ReidPruneError, match=r"pip install reidprune\[cleanlab\]"):
        confident_learning_issues(np.array([0, 1]), np.eye(2))
