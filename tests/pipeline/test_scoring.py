"""Every method through the scoring pipeline on a tiny in-memory world; loop error paths."""
import numpy as np
import pytest
import torch

from reidprune.errors import ReidPruneError
from reidprune.pipeline.scoring import ScoreOptions, score_dataset
from reidprune.scores.registry import METHODS
from reidprune.pipeline.selecting import SelectOptions, decide
from reidprune.train.config import cpu_quick_config
from reidprune.train.loop import NonFiniteLoss, fit


CONFIG = cpu_quick_config(epochs=3, batch_size=16, height=32, width=16)


@pytest.fixture(scope="module")
def all_scores(tiny_world):
    table, images = tiny_world()
    options = ScoreOptions(METHODS, CONFIG, score_epochs=2, folds=2, models=2)
    return table, score_dataset(table, images, options, progress=False)


def test_every_method_scores_every_sample(all_scores):
    table, scores = all_scores
    assert set(scores.methods) == set(METHODS)
    for name, method in scores.methods.items():
        assert method.importance.shape == (len(table),), name
        assert np.isfinite(method.importance).all(), name


def test_costs_are_reported_in_epochs(all_scores):
    _, scores = all_scores
    cost = {name: m.cost["epochs"] for name, m in scores.methods.items()}
    assert cost == {"random": 0, "entropy": 2, "entropy_knn": 2, "forgetting": 3, "aum": 3, "ma_loss": 3, "prototypes": 3,
                    "el2n": 4, "grand": 4, "confident": 2}
    assert scores["aum"].cost["threshold_runs"]["epochs"] == 6


def test_aum_flags_and_confident_learning_suggestions_exist(all_scores):
    table, scores = all_scores
    assert scores["aum"].extras["mislabeled"].dtype == bool
    assert scores["aum"].params["threshold_percentile"] == 99.0
    suggested = scores["confident"].extras["suggested"]
    assert suggested.min() >= 0 and suggested.max() < table.num_classes


def test_recorder_counted_every_presentation_of_the_score_epochs(all_scores):
    table, scores = all_scores
    # 128 images, batch 16 -> 8 batches an epoch; T = 2 epochs -> 2 * 8 * 16 = 256 presentations
    assert scores["entropy"].extras["visits"].sum() == 256


def test_scores_round_trip_through_the_file(all_scores, tmp_path):
    from reidprune.scores.store import ScoreSet

    _, scores = all_scores
    scores.save(tmp_path / "s.npz")
    back = ScoreSet.load(tmp_path / "s.npz")
    for name in METHODS:
        assert np.array_equal(back[name].importance, scores[name].importance)
        assert back[name].params == scores[name].params


def test_selection_from_baseline_without_purification(all_scores):
    _, scores = all_scores
    decision = decide(scores, SelectOptions(method="forgetting", fraction=0.25, purify=False))
    assert decision.selection.counts()["pruned"] == round(0.25 * len(scores.paths))


def test_nan_logits_stop_with_the_step_and_advice():
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            logits = x.mean((1, 2, 3)).unsqueeze(1).repeat(1, 4) * self.w
            return (logits * (float("nan") if self.calls == 3 else 1.0), logits, logits)

    images = torch.zeros(32, 3, 8, 4, dtype=torch.uint8)
    labels = np.arange(32) % 4
    with pytest.raises(NonFiniteLoss, match="epoch 1, step 2.*lower the learning rate"):
        fit(Exploding(), images, labels, cpu_quick_config(mode="classify", batch_size=8, epochs=1), progress=False)


def test_labels_out_of_range_are_refused(tiny_world):
    table, images = tiny_world()
    bad = table.label.copy()
    with pytest.raises(ReidPruneError, match="labels must lie in"):
        table.with_labels(bad + table.num_classes)


def test_aum_without_threshold_runs_costs_only_the_main_run(tiny_world):
    table, images = tiny_world()
    scores = score_dataset(table, images, ScoreOptions(("aum",), CONFIG, aum_flags=False), progress=False)
    assert "mislabeled" not in scores["aum"].extras and "threshold_runs" not in scores["aum"].cost
    # importance is -AUM: the mean margin of each sample's logits over its presentations
    assert np.array_equal(scores["aum"].importance, -scores["aum"].extras["aum"])


def test_fit_refuses_labels_outside_the_classifier():
    from reidprune.models.reid import build_model

    images = torch.zeros(8, 3, 32, 16, dtype=torch.uint8)
    with pytest.raises(ReidPruneError, match=r"labels must lie in 0..3, got 0..4"):
        fit(build_model("small", 4), images, np.array([0, 1, 2, 3, 4, 0, 1, 2]), CONFIG, progress=False)


def test_samples_outside_a_sparse_window_are_kept_and_never_flagged(tiny_world):
    table, images = tiny_world(per_class=18)  # 5 groups of 4 per identity, 9 batches take 36 of 40
    options = ScoreOptions(("entropy",), CONFIG, every=3)  # only epoch 3: one P x K epoch
    scores = score_dataset(table, images, options, progress=False)
    visits = scores["entropy"].extras["visits"]
    unrecorded = visits == 0
    assert unrecorded.any() and scores["entropy"].params["unrecorded"] == unrecorded.sum()
    assert (scores["entropy"].importance[unrecorded] > scores["entropy"].importance[~unrecorded].max()).all()
    decision = decide(scores, SelectOptions(fraction=0.25, max_outlier_fraction=1.0))
    assert not (decision.mislabeled[unrecorded] | decision.outliers[unrecorded]).any()
    assert np.isnan(decision.entropy[unrecorded]).all()
    assert decision.selection.keep_mask[unrecorded].all()
    assert any("never recorded" in w for w in decision.warnings)


def test_entropy_knn_mixes_the_soft_label_with_the_neighbour_vote(all_scores):
    from reidprune.scores.entropy import entropy_scores, soft_labels

    table, scores = all_scores
    knn, ours = scores["entropy_knn"], scores["entropy"]
    mixed = knn.extras["soft_labels"].astype(np.float64)
    assert np.allclose(mixed.sum(1), 1, atol=1e-5)
    # (1 - w) * soft + w * vote: every row stays within w of our soft label
    soft = soft_labels(ours.extras["mean_logits"].astype(np.float64))
    assert np.abs(mixed - soft).max() <= knn.params["knn_weight"] + 1e-5
    k_default = max(1, int(np.median(np.bincount(table.label))) // 2)
    assert knn.params["knn_k"] == k_default and knn.cost["epochs"] == ours.cost["epochs"]
    assert np.allclose(knn.importance, entropy_scores(mixed), atol=1e-4)
    # selection with entropy_knn purifies with its own soft labels
    decision = decide(scores, SelectOptions(method="entropy_knn", fraction=0.2, max_outlier_fraction=1.0))
    assert np.array_equal(decision.predicted, mixed.argmax(1))


def test_aum_alone_needs_no_main_run(tiny_world):
    table, images = tiny_world()
    scores = score_dataset(table, images, ScoreOptions(("aum",), CONFIG.replace(epochs=4)), progress=False)
    aum = scores["aum"]
    assert aum.cost["runs"] == 2 and aum.cost["epochs"] == 8 and aum.params["source"] == "threshold runs"
    assert aum.extras["mislabeled"].dtype == bool and len(aum.importance) == len(table)


def test_adaptive_stop_ends_the_run_and_records_why(tiny_world):
    from reidprune.dynamics.stopping import StopRule

    table, images = tiny_world()
    rule = StopRule(min_epochs=1, stable_spearman=0.01, stable_changes=0.99)  # stable at once
    options = ScoreOptions(("entropy",), CONFIG.replace(epochs=5), stop="auto", stop_rule=rule)
    ours = score_dataset(table, images, options, progress=False)["entropy"]
    assert ours.params["stopped_at"] == 2 and ours.params["epochs_saved"] == 3 and ours.cost["epochs"] == 2
    assert "stable" in ours.params["stop_reason"] and len(ours.params["diagnostics"]) == 2


def test_adaptive_stop_takes_el2n_and_grand_at_the_stop(tiny_world):
    """Issue 25: EL2N / GraNd riding on a classify-mode main run used to be taken only at epoch T,
    which an adaptive stop never reaches (``TypeError`` in the score store)."""
    from reidprune.dynamics.stopping import StopRule

    table, images = tiny_world()
    rule = StopRule(min_epochs=1, stable_spearman=0.01, stable_changes=0.99)  # stops at epoch 2
    options = ScoreOptions(("entropy", "el2n", "grand"), CONFIG.replace(mode="classify", epochs=5),
                           stop="auto", stop_rule=rule)
    scores = score_dataset(table, images, options, progress=False)
    assert scores["entropy"].params["stopped_at"] == 2
    for name in ("el2n", "grand"):
        assert scores[name].params["score_epochs"] == 2 and scores[name].cost["epochs"] == 2
        assert scores[name].importance.shape == (len(table),) and np.isfinite(scores[name].importance).all()


def test_a_fixed_window_trains_no_further_than_the_methods_need(tiny_world):
    """``--stop fixed --score-epochs 2`` with entropy alone trains 2 epochs, not all of ``--epochs``;
    forgetting needs the whole run, so with it the run goes on."""
    table, images = tiny_world()
    alone = score_dataset(table, images, ScoreOptions(("entropy",), CONFIG.replace(epochs=4), score_epochs=2),
                          progress=False)
    assert alone["entropy"].cost["epochs"] == 2 and len(alone["entropy"].params["diagnostics"]) == 2
    both = score_dataset(table, images, ScoreOptions(("entropy", "forgetting"), CONFIG.replace(epochs=4),
                                                     score_epochs=2), progress=False)
    assert both["forgetting"].cost["epochs"] == 4 and both["entropy"].cost["epochs"] == 2
