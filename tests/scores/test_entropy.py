"""Eq. 1 (softmax of mean logits) and Eq. 2 (entropy in bits) on hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.entropy import (entropy_scores, max_scores, predicted_labels, soft_labels,
                                      validate_soft_labels)


def test_soft_labels_are_softmax_of_mean_logits():
    logits = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, np.log(2.0), 0.0, 0.0], [np.log(3.0), 0.0, 0.0, 0.0]])
    expected = np.array([[0.25, 0.25, 0.25, 0.25], [0.2, 0.4, 0.2, 0.2], [0.5, 1 / 6, 1 / 6, 1 / 6]])
    out = soft_labels(logits)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_soft_labels_do_not_overflow_on_large_logits():
    out = soft_labels(np.array([[1000.0, 1000.0], [-1000.0, 1000.0]], dtype=np.float32))
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 1.0]], atol=1e-12)


@pytest.mark.parametrize("num_classes", [2, 8, 743])
def test_uniform_soft_label_has_entropy_log2_c(num_classes):
    probs = np.full((1, num_classes), 1.0 / num_classes)
    np.testing.assert_allclose(entropy_scores(probs), [np.log2(num_classes)], rtol=1e-12)


def test_hand_computed_entropies():
    probs = np.array([[0.0, 1.0, 0.0], [0.5, 0.25, 0.25], [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(entropy_scores(probs), [0.0, 1.5, 1.0, 1.5], atol=1e-15)
    assert entropy_scores(probs)[0] == 0.0  # one-hot: exactly zero, 0 log 0 = 0


def test_predicted_labels_and_max_scores():
    probs = np.array([[0.1, 0.7, 0.2], [0.6, 0.2, 0.2], [0.4, 0.4, 0.2]])
    np.testing.assert_array_equal(predicted_labels(probs), [1, 0, 0])  # tie -> lowest class
    assert predicted_labels(probs).dtype == np.int64
    np.testing.assert_allclose(max_scores(probs), [0.7, 0.6, 0.4])


def test_float32_rows_within_tolerance_are_accepted():
    probs = soft_labels(np.random.default_rng(0).normal(size=(4, 1041))).astype(np.float32)
    assert validate_soft_labels(probs).shape == (4, 1041)


@pytest.mark.parametrize("bad, match", [
    (np.array([0.5, 0.5]), "2-D"),
    (np.zeros((2, 0)), "at least one class"),
    (np.array([[0.5, 0.6]]), "sum to 1"),
    (np.array([[1.5, -0.5]]), "non-negative"),
    (np.array([[np.nan, 1.0]]), "finite"),
    (np.array([[2.0, 3.0]]), "not logits"),
])
def test_invalid_soft_labels_are_refused(bad, match):
    for function in (entropy_scores, predicted_labels, max_scores):
        with pytest.raises(ReidPruneError, match=match):
            function(bad)


def test_invalid_logits_are_refused():
    with pytest.raises(ReidPruneError, match="finite"):
        soft_labels(np.array([[np.inf, 0.0]]))
    with pytest.raises(ReidPruneError, match="2-D"):
        soft_labels(np.zeros(3))
