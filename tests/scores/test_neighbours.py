"""Neighbour votes in embedding space: hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.neighbours import combine, default_k, knn_entropy, neighbour_votes


def test_votes_by_hand():
    # two tight clusters on the unit circle; sample 2 sits in cluster A but is labelled 1
    emb = np.array([[1.0, 0.0], [0.99, 0.14], [0.98, -0.2], [0.0, 1.0], [0.1, 0.99]])
    labels = np.array([0, 0, 1, 1, 1])
    votes = neighbour_votes(emb, labels, num_classes=2, k=2)
    assert votes.shape == (5, 2) and np.allclose(votes.sum(1), 1)
    # sample 2's two nearest are 0 and 1, both labelled 0
    assert votes[2] == pytest.approx([1.0, 0.0])
    # sample 0's nearest: 1 (label 0, cos .99) and 2 (label 1, cos .98): weights by similarity
    s01, s02 = emb[0] @ emb[1] / np.linalg.norm(emb[1]), emb[0] @ emb[2] / np.linalg.norm(emb[2])
    assert votes[0] == pytest.approx([s01 / (s01 + s02), s02 / (s01 + s02)])


def test_chunks_do_not_change_the_result():
    rng = np.random.default_rng(0)
    emb, labels = rng.normal(size=(50, 8)), rng.integers(0, 5, 50)
    assert np.allclose(neighbour_votes(emb, labels, 5, k=4, chunk=7), neighbour_votes(emb, labels, 5, k=4))


def test_negative_similarity_only_gives_a_uniform_row():
    emb = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert np.allclose(neighbour_votes(emb, np.array([0, 1]), 3, k=1), 1 / 3)


def test_combine_and_errors():
    soft = np.array([[0.8, 0.2]])
    votes = np.array([[0.0, 1.0]])
    assert np.allclose(combine(soft, votes, 0.5), [[0.4, 0.6]])
    with pytest.raises(ReidPruneError):
        combine(soft, votes, 1.5)
    with pytest.raises(ReidPruneError, match="k must"):
        neighbour_votes(np.zeros((3, 2)), np.array([0, 1, 0]), 2, k=3)
    with pytest.raises(ReidPruneError, match="labels"):
        neighbour_votes(np.ones((3, 2)), np.array([0, 1, 5]), 2, k=1)


def test_knn_entropy_mixes_the_soft_label_with_the_vote_and_keeps_unrecorded_rows():
    emb = np.array([[1.0, 0.0], [0.99, 0.14], [0.98, -0.2], [0.0, 1.0], [0.1, 0.99]])
    labels = np.array([0, 0, 1, 1, 1])
    mean = np.zeros((5, 2))  # flat soft labels: the vote decides
    mean[4] = np.nan  # never recorded
    mixed, importance, predicted, top = knn_entropy(mean, emb, labels, 2, k=2, weight=0.5)
    assert mixed[2] == pytest.approx([0.75, 0.25])  # 0.5 x (0.5, 0.5) + 0.5 x (1, 0)
    assert predicted[2] == 0 and top[2] == pytest.approx(0.75)
    h = -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))  # bits, as entropy_scores
    assert importance[2] == pytest.approx(h)
    assert predicted[4] == 1 and np.isnan(top[4]) and importance[4] == pytest.approx(importance[:4].max() + 1)


def test_default_k_is_half_the_median_identity_size():
    assert default_k(np.repeat(np.arange(3), [4, 10, 12]), 3) == 5
    assert default_k(np.array([0, 1]), 2) == 1  # never below 1 nor above N - 1
