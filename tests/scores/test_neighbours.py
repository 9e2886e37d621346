"""Neighbour votes in embedding space: hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.neighbours import combine, neighbour_votes


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
