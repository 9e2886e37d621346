"""Symmetric label noise: exact flip counts, only other classes, uniform draws, reproducible."""
from __future__ import annotations

import numpy as np
import pytest

from reidprune.data.noise import inject_symmetric_noise
from reidprune.errors import ReidPruneError


@pytest.mark.parametrize("n, rate, expected", [
    (743, 0.2, 149),   # 148.6 rounds up
    (10, 0.25, 2),     # 2.5: Python's round goes to the even integer
    (10, 0.35, 4),     # 3.5 -> 4
    (7, 0.0, 0),
    (1000, 0.5, 500),
])
def test_exact_number_of_flips(n, rate, expected):
    labels = np.arange(n) % 13
    noisy, flipped = inject_symmetric_noise(labels, rate, 13, seed=0)
    assert int(flipped.sum()) == expected
    assert np.array_equal(flipped, noisy != labels)  # every flip really changes the label
    assert np.array_equal(noisy[~flipped], labels[~flipped])
    assert noisy.dtype == np.int64 and noisy.min() >= 0 and noisy.max() < 13


def test_chosen_samples_follow_default_rng_choice():
    labels = np.zeros(50, dtype=np.int64)
    _, flipped = inject_symmetric_noise(labels, 0.3, 4, seed=123)
    chosen = np.random.default_rng(123).choice(50, size=15, replace=False)
    assert sorted(np.flatnonzero(flipped).tolist()) == sorted(chosen.tolist())


def test_same_seed_same_noise_other_seed_other_noise():
    labels = np.arange(200) % 7
    a = inject_symmetric_noise(labels, 0.4, 7, seed=5)
    b = inject_symmetric_noise(labels, 0.4, 7, seed=5)
    c = inject_symmetric_noise(labels, 0.4, 7, seed=6)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert np.array_equal(labels, np.arange(200) % 7)  # the input is not modified


def test_two_classes_flip_to_the_other_one():
    labels = np.array([0, 1] * 20)
    noisy, flipped = inject_symmetric_noise(labels, 0.5, 2, seed=1)
    assert np.array_equal(noisy[flipped], 1 - labels[flipped])


def test_new_labels_uniform_over_the_other_classes():
    labels = np.zeros(30000, dtype=np.int64)
    noisy, flipped = inject_symmetric_noise(labels, 0.5, 4, seed=2)
    counts = np.bincount(noisy[flipped], minlength=4)
    assert counts[0] == 0
    # 15,000 draws over 3 classes: 5,000 each, standard deviation ~58; allow 5 sigma.
    assert np.all(np.abs(counts[1:] - 5000) < 290), counts
    # Flipped positions are spread over the whole array, not bunched at its start.
    assert abs(int(flipped[:15000].sum()) - 7500) < 300


@pytest.mark.parametrize("labels, rate, classes, seed, message", [
    ([0, 1, 2], 1.0, 3, 0, r"noise rate must be a number in \[0, 1\)"),
    ([0, 1, 2], -0.1, 3, 0, "noise rate"),
    ([0, 1, 2], float("nan"), 3, 0, "noise rate"),
    ([0, 1, 2], "0.2", 3, 0, "noise rate"),
    ([0, 1, 3], 0.2, 3, 0, r"labels must lie in 0\.\.2"),
    ([0, -1, 2], 0.2, 3, 0, r"labels must lie in 0\.\.2"),
    ([[0, 1], [1, 0]], 0.2, 3, 0, "1-D integer array"),
    ([0.0, 1.0], 0.2, 3, 0, "1-D integer array"),
    ([0, 0], 0.5, 1, 0, "num_classes must be an integer >= 2"),
    ([0, 1], 0.5, 2, -4, "seed must be a non-negative integer"),
    ([0, 1], 0.5, 2, 1.5, "seed must be a non-negative integer"),
])
def test_invalid_arguments(labels, rate, classes, seed, message):
    with pytest.raises(ReidPruneError, match=message):
        inject_symmetric_noise(labels, rate, classes, seed)


def test_empty_labels():
    noisy, flipped = inject_symmetric_noise(np.zeros(0, dtype=np.int64), 0.3, 5, seed=0)
    assert noisy.shape == (0,) and flipped.shape == (0,)
