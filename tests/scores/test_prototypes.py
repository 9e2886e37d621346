from __future__ import annotations

import math

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.scores.prototypes import prototype_scores


def test_prototype_scores_hand_computed():
    # Class 0: [1,0], [0,1], [3,3] -> normalised [1,0], [0,1], [s,s] with s = 1/sqrt(2).
    # Mean [(1+s)/3, (1+s)/3] -> normalised centroid [s, s].
    # Distances: ||[1,0]-[s,s]|| = sqrt(2 - 2s) = 0.765367, same for [0,1], and 0 for [3,3].
    # Class 5: [0,-2] alone is its own centroid -> 0.
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0], [0.0, -2.0]])
    labels = np.array([0, 0, 0, 5])
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(prototype_scores(embeddings, labels),
                               [math.sqrt(2 - 2 * s), math.sqrt(2 - 2 * s), 0.0, 0.0], atol=1e-12)
    # Cosine distance 1 - cos: 1 - s for the two axis vectors.
    np.testing.assert_allclose(prototype_scores(embeddings, labels, metric="cosine"),
                               [1 - s, 1 - s, 0.0, 0.0], atol=1e-12)


def test_euclidean_and_cosine_give_the_same_ranking():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=300)
    embeddings = rng.normal(size=(300, 16)) + 2.0 * rng.normal(size=(6, 16))[labels]
    euclidean = prototype_scores(embeddings, labels, metric="euclidean")
    cosine = prototype_scores(embeddings, labels, metric="cosine")
    np.testing.assert_array_equal(np.argsort(euclidean), np.argsort(cosine))
    np.testing.assert_allclose(euclidean ** 2, 2 * cosine, atol=1e-12)  # ||a-b||^2 = 2 - 2cos


def test_prototype_scores_ignore_embedding_scale_and_label_values():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(40, 5))
    labels = rng.integers(0, 4, size=40)
    reference = prototype_scores(embeddings, labels)
    scaled = prototype_scores(embeddings * rng.uniform(0.1, 10, size=(40, 1)), labels * 100 + 7)
    np.testing.assert_allclose(scaled, reference, atol=1e-12)


@pytest.mark.parametrize("embeddings, labels, metric", [
    (np.zeros((2, 3)), np.array([0, 1]), "euclidean"),          # zero vector
    (np.ones((2, 3)), np.array([0, 1, 2]), "euclidean"),
    (np.ones((2, 3)), np.array([0.0, 1.0]), "euclidean"),
    (np.ones((2, 3)), np.array([0, 1]), "manhattan"),
    (np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([3, 3]), "cosine"),  # centroid cancels out
])
def test_prototype_scores_validate(embeddings, labels, metric):
    with pytest.raises(ReidPruneError):
        prototype_scores(embeddings, labels, metric=metric)
