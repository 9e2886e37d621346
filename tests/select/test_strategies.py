"""Pruning strategies beyond the paper's, on hand-computed cases."""
import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.select.prune import select_with_report
from reidprune.select.strategies import prune_order


def _pruned(order, count):
    return set(np.argsort(order, kind="stable")[:count].tolist())


IMPORTANCE = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0])  # easy -> hard: 9 1 5 3 7 0 8 4 6 2


def test_easy_is_the_paper_and_hard_its_reverse():
    assert _pruned(prune_order(IMPORTANCE, 3, "easy"), 3) == {9, 1, 5}
    assert _pruned(prune_order(IMPORTANCE, 3, "hard"), 3) == {2, 6, 4}


def test_window_prunes_easy_at_low_rates_and_hard_at_high_rates():
    # f = 0.2: f (1 - f) N = 1.6 -> 2 easiest (9, 1), then 0 hardest
    assert _pruned(prune_order(IMPORTANCE, 2, "window"), 2) == {9, 1}
    # f = 0.5: 2.5 -> 2 easiest (9, 1) and the 3 hardest (2, 6, 4)
    assert _pruned(prune_order(IMPORTANCE, 5, "window"), 5) == {9, 1, 2, 6, 4}
    # f = 0.7: 2.1 -> 2 easiest and 5 hardest (2, 6, 4, 8, 0)
    assert _pruned(prune_order(IMPORTANCE, 7, "window"), 7) == {9, 1, 2, 6, 4, 8, 0}


def test_ccs_drops_the_hardest_beta_then_covers_every_bin():
    # beta 0.1 -> the hardest (2) goes first; the other 9 in 3 bins of width 0.8/3:
    # [0, .27): 9 1 5 | [.27, .53): 3 7 0 | [.53, .8]: 8 4 6 -> keep 5: 1 from the first bin (5 // 3)...
    order = prune_order(IMPORTANCE, 5, "ccs", beta=0.1, bins=3, seed=0)
    pruned = _pruned(order, 5)
    assert 2 in pruned and len(pruned) == 5
    kept = set(range(10)) - pruned
    bins = [{9, 1, 5}, {3, 7, 0}, {8, 4, 6}]
    counts = sorted(len(kept & b) for b in bins)
    assert counts == [1, 2, 2]  # budget 5 over 3 equal bins: 1, then 4 // 2 = 2 each
    # a lopsided score: the small bins are kept whole, the big one gives the rest
    skewed = np.r_[np.zeros(8), 1.0, 1.0]
    kept = set(range(10)) - _pruned(prune_order(skewed, 6, "ccs", bins=2), 6)
    assert {8, 9} <= kept and len(kept) == 4


def test_strategies_plug_into_the_selection():
    order = prune_order(IMPORTANCE, 5, "window")
    report = select_with_report(order, np.arange(10) % 2, count=5)
    assert set(np.flatnonzero(report.selection.status == "pruned").tolist()) == {9, 1, 2, 6, 4}
    with pytest.raises(ReidPruneError, match="unknown pruning strategy"):
        prune_order(IMPORTANCE, 2, "magic")
    with pytest.raises(ReidPruneError):
        prune_order(np.array([np.nan, 1.0]), 1)


def test_sweep_specs_name_a_strategy():
    from reidprune.experiments.grid import MethodSpec

    spec = MethodSpec.parse("entropy+purify+ccs")
    assert (spec.base, spec.purify, spec.strategy, spec.name) == ("entropy", True, "ccs", "entropy+purify+ccs")
    assert MethodSpec.parse("entropy").strategy == "easy"
    with pytest.raises(ReidPruneError):
        MethodSpec.parse("entropy+ccs+window")


def test_a_sweep_can_measure_runs_default_strategy():
    from reidprune.experiments.grid import Cell, Grid, MethodSpec
    from reidprune.experiments.sweep import select_options

    spec = MethodSpec.parse("entropy+auto")
    assert (spec.strategy, spec.name) == ("auto", "entropy+auto")
    cell = Cell("entropy+auto", 0.5, 3, 0.0, 12, 1, None)
    options = select_options(cell, Grid(methods=("entropy+auto",)))
    assert (options.strategy, options.fraction, options.seed) == ("auto", 0.5, 3)


def test_redundancy_prunes_near_duplicates_first_and_keeps_every_group():
    from reidprune.select.strategies import redundancy_order

    # group 0: a near-duplicate pair (0, 1) and a distinct image 2; group 1: two orthogonal images
    feats = np.array([[1.0, 0.0, 0.0], [0.99, 0.01, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    groups = np.array([0, 0, 0, 1, 1])
    order = redundancy_order(feats, groups)
    assert order[1] == 0  # of the near-identical pair, the higher index goes first
    pruned = _pruned(order.astype(float), 2)
    assert 1 in pruned and len(pruned & {0, 2}) <= 1 and len(pruned & {3, 4}) <= 1  # both groups stay covered
    # everything but one image per group goes before the last of any group
    assert sorted(order[[i for i in range(5) if order[i] >= 3]]) == [3, 4]
    assert _pruned(prune_order(np.zeros(5), 1, "redundancy", features=feats, groups=groups), 1) == {1}
    with pytest.raises(ReidPruneError, match="needs features"):
        prune_order(np.zeros(5), 1, "redundancy")


def test_redundancy_features_compare_the_shape_of_the_logits():
    from reidprune.select.strategies import redundancy_features

    mean = np.array([[1.0, 2.0, 3.0], [11.0, 12.0, 13.0], [np.nan, np.nan, np.nan]])
    features = redundancy_features({"mean_logits": mean, "soft_labels": np.zeros((3, 3))})
    assert np.allclose(features, [[-1, 0, 1], [-1, 0, 1], [0, 0, 0]])  # a shift makes no difference
    with pytest.raises(ReidPruneError, match="--method entropy"):
        redundancy_features({"predicted": np.zeros(3)})
