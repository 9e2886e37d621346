"""Top-k recorder: hand-made cases, the sparse soft-label statistics, and its error against
the exact recorder on a real (small) training run."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reidprune.dynamics.recorder import LogitRecorder
from reidprune.dynamics.topk import TopKLogitRecorder, noise_share, topk_memory_bytes
from reidprune.errors import ReidPruneError
from reidprune.scores.entropy import (
    entropy_scores, max_scores, predicted_labels, soft_labels, sparse_soft_label_stats,
)


def test_slots_hold_exact_sums_and_the_rest_its_exact_mean():
    # C = 4, k = 2. Visit 1: [5, 3, 0, -2] -> slots {0: 5, 1: 3}; outside: max 0 (ceiling 0).
    # Visit 2: [4, 1, 2, 0] -> slot sums {0: 9, 1: 4}; candidate class 2's past is estimated
    # halfway from the rest's mean sum (total 6 - slots 8) / 2 = -1 to the ceiling 0: -0.5,
    # so its sum -0.5 + 2 = 1.5 < 4 and the slots stay.
    recorder = TopKLogitRecorder(1, 4, k=2)
    recorder.update(torch.tensor([0]), torch.tensor([[5.0, 3.0, 0.0, -2.0]]))
    recorder.update(torch.tensor([0]), torch.tensor([[4.0, 1.0, 2.0, 0.0]]))
    summary = recorder.summary()
    np.testing.assert_array_equal(summary.index, [[0, 1]])
    np.testing.assert_allclose(summary.mean, [[4.5, 2.0]])
    assert summary.visits.tolist() == [2]
    assert recorder.total[0].item() == 13.0 and recorder.ceiling[0].item() == 2.0  # 0 + max(2, 0)
    # Rest: classes 2 and 3 with mean logits 1 and -1 (mean 0). Per visit log-mean-exp minus
    # mean: log cosh(1) both times (visit 1: [0, -2], visit 2: [2, 0]). The probes (classes
    # 0 and 1 for sample 0) are both slots: no noise estimate, rho = 0.
    assert summary.noise_share == 0.0
    assert summary.rest_spread[0] == pytest.approx(math.log(math.cosh(1.0)), rel=1e-6)
    assert summary.rest_logit[0] == pytest.approx(math.log(math.cosh(1.0)), rel=1e-6)  # mu = 0
    # Here the Hoelder gap is exact: log-mean-exp of the mean logits [1, -1] is log cosh(1).


def test_late_class_replaces_a_slot_with_estimated_past():
    # C = 3, k = 1. Visit 1: [2, 0, -4] -> slot class 0 (sum 2); ceiling 0; total -2.
    # Visit 2: [0, 9, 1]: slot 0 -> 2; class 1's past: rest mean (-2 - 2) / 2 = -2, ceiling 0
    # -> (0 + -2) / 2 = -1, its sum 8 > 2: it takes the slot, mean 4 (exact 4.5).
    recorder = TopKLogitRecorder(1, 3, k=1)
    recorder.update(torch.tensor([0]), torch.tensor([[2.0, 0.0, -4.0]]))
    recorder.update(torch.tensor([0]), torch.tensor([[0.0, 9.0, 1.0]]))
    summary = recorder.summary()
    assert summary.index.tolist() == [[1]]
    assert summary.mean[0, 0] == pytest.approx(4.0)
    # The total is exact, so the rest's mean takes the slot's error back: (8 - 8) / 2 / 2 = 0
    # (exact: classes 0 and 2 at 1 and -1.5, mean -0.25).
    assert summary.rest_logit[0] - summary.rest_spread[0] == pytest.approx(0.0)


def test_one_class_outside_is_exact_when_the_left_out_class_changes():
    # C = 3, k = 2. Visit 1: [3, 2, 1] -> slots {0: 3, 1: 2}, class 2 outside (total 6).
    # Visit 2: [0, 2, 5]: slots {0: 3, 1: 4}; class 2's past is the rest's sum 6 - 5 = 1,
    # exactly its visit-1 logit: 1 + 5 = 6 enters, class 0 (3) leaves; the rest is then
    # class 0 with total 13 - 10 = 3: every mean logit exact, the soft label exact.
    recorder = TopKLogitRecorder(1, 3, k=2)
    recorder.update(torch.tensor([0]), torch.tensor([[3.0, 2.0, 1.0]]))
    recorder.update(torch.tensor([0]), torch.tensor([[0.0, 2.0, 5.0]]))
    summary = recorder.summary()
    np.testing.assert_array_equal(summary.index, [[2, 1]])
    np.testing.assert_allclose(summary.mean, [[3.0, 2.0]])
    assert summary.rest_logit[0] == pytest.approx(1.5) and summary.rest_spread[0] == 0.0
    entropy, top, best = sparse_soft_label_stats(summary.index, summary.mean, summary.rest_logit, 3,
                                                 summary.rest_spread)
    soft = soft_labels(np.array([[1.5, 2.0, 3.0]]))
    assert entropy[0] == pytest.approx(entropy_scores(soft)[0]) and top[0] == pytest.approx(max_scores(soft)[0])
    assert best.tolist() == [2]


def test_the_label_class_keeps_a_slot():
    # C = 4, k = 2, label 3 (the lowest logit): the slots are the label and the best class.
    recorder = TopKLogitRecorder(1, 4, k=2)
    for row in ([5.0, 3.0, 0.0, -2.0], [4.0, 6.0, 2.0, -1.0]):
        recorder.update(torch.tensor([0]), torch.tensor([row]), torch.tensor([3]))
    summary = recorder.summary()
    assert sorted(summary.index[0].tolist()) == [0, 3]
    np.testing.assert_allclose(summary.mean[0], [4.5, -1.5])  # class 0 first, both exact


def test_noise_share_by_hand():
    # Sample 0: one usable probe with deviations 1, 3 (n = 2): within-class variance sum
    # 1 + 9 - 16 / 2 = 2; its rest variance sum 8. Sample 1: its probe is a slot (left out).
    rho = noise_share(np.array([[4.0], [7.0]]), np.array([[10.0], [50.0]]), np.array([8.0, 5.0]),
                      np.array([2, 2]), np.array([[True], [False]]))
    assert rho == pytest.approx(2 / 8)
    assert noise_share(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros(1), np.array([1]), np.ones((1, 1), bool)) == 0.0


def test_repeated_ids_in_a_batch_count_every_visit():
    logits = torch.tensor([[3.0, 1.0, 0.0, 0.0, -1.0], [3.0, 1.0, 0.0, 0.0, -1.0], [0.0, 2.0, 1.0, 0.0, 0.0]])
    together = TopKLogitRecorder(3, 5, k=2)
    together.update(torch.tensor([1, 1, 0]), logits)
    apart = TopKLogitRecorder(3, 5, k=2)
    for row, sample in ((0, 1), (1, 1), (2, 0)):
        apart.update(torch.tensor([sample]), logits[row:row + 1])
    a, b = together.summary(allow_missing=True), apart.summary(allow_missing=True)
    np.testing.assert_array_equal(a.visits, [1, 2, 0])
    np.testing.assert_array_equal(a.index[:2], b.index[:2])
    np.testing.assert_allclose(a.mean[:2], b.mean[:2])
    np.testing.assert_allclose(a.rest_logit[:2], b.rest_logit[:2], rtol=1e-6)  # equal rows: exact
    np.testing.assert_allclose(a.rest_spread[:2], b.rest_spread[:2], rtol=1e-6)
    assert np.isnan(a.mean[2]).all() and np.isnan(a.rest_logit[2])
    with pytest.raises(ReidPruneError, match="1 of 3 samples were never recorded"):
        together.summary()


def test_state_dict_round_trip_and_window():
    recorder = TopKLogitRecorder(2, 6, k=3, every=2)
    recorder.update(torch.tensor([0, 1]), torch.randn(2, 6))  # epoch 1: not recorded
    recorder.end_epoch()
    recorder.update(torch.tensor([0, 1]), torch.randn(2, 6))
    copy = TopKLogitRecorder(2, 6, k=3, every=2)
    copy.load_state_dict(recorder.state_dict())
    for name in ("index", "sums", "total", "ceiling", "gap", "spread", "probe_sums", "probe_squares", "counts"):
        assert torch.equal(getattr(copy, name), getattr(recorder, name))
    assert copy.summary().visits.tolist() == [1, 1]
    with pytest.raises(ReidPruneError, match="k=3"):
        TopKLogitRecorder(2, 6, k=2).load_state_dict(recorder.state_dict())


@pytest.mark.parametrize("k", [0, 5, 6])
def test_k_must_be_below_the_number_of_classes(k):
    with pytest.raises(ReidPruneError, match="1 <= k < C"):
        TopKLogitRecorder(3, 5, k=k)


def test_memory_formula():
    assert topk_memory_bytes(1_000_000, 64) == 552_000_000
    recorder = TopKLogitRecorder(100, 50, k=8)
    held = sum(t.numel() * t.element_size() for t in recorder.state_dict().values() if torch.is_tensor(t))
    assert held == topk_memory_bytes(101, 8)  # N + 1 rows (one spare)


def test_sparse_stats_with_every_class_equal_the_dense_ones():
    rng = np.random.default_rng(0)
    mean = rng.normal(scale=3, size=(20, 7))
    mean[0, [2, 5]] = mean[0].max() + 1  # a tie for the argmax: lowest class wins
    index = np.tile(np.arange(7), (20, 1))
    shuffle = rng.permuted(index, axis=1)
    entropy, top, best = sparse_soft_label_stats(shuffle, np.take_along_axis(mean, shuffle, 1),
                                                 np.zeros(20), 7)
    soft = soft_labels(mean)
    np.testing.assert_allclose(entropy, entropy_scores(soft), atol=1e-12)
    np.testing.assert_allclose(top, max_scores(soft), atol=1e-15)
    np.testing.assert_array_equal(best, predicted_labels(soft))
    assert best[0] == 2


def test_sparse_stats_by_hand():
    # C = 4: slot logits [log 4, log 2], two rest classes at log 1 -> probabilities
    # 4/8, 2/8, 1/8, 1/8: entropy = 1/2 + 2/8*2 + 2 * 1/8*3 = 1.75 bits, max 0.5, argmax 9.
    entropy, top, best = sparse_soft_label_stats(
        np.array([[9, 3]]), np.log(np.array([[4.0, 2.0]])), np.array([0.0]), 4)
    assert entropy[0] == pytest.approx(1.75, abs=1e-12)
    assert top[0] == pytest.approx(0.5) and best[0] == 9


def test_sparse_stats_with_a_spread_rest_by_hand():
    # As above, the rest (2 classes) at log-mean-exp 0 but spread g = 0.5: same masses
    # 4/8, 2/8, 2/8, the rest's weighted mean logit 0 + 0.5, so the entropy in nats is
    # log 8 - (1/2 log 4 + 1/4 log 2 + 1/4 * 0.5): 1.75 bits - 0.125 / log 2.
    entropy, top, best = sparse_soft_label_stats(
        np.array([[9, 3]]), np.log(np.array([[4.0, 2.0]])), np.array([0.0]), 4, np.array([0.5]))
    assert entropy[0] == pytest.approx(1.75 - 0.125 / math.log(2), abs=1e-12)
    assert top[0] == pytest.approx(0.5) and best[0] == 9
    with pytest.raises(ReidPruneError, match="spreads finite and >= 0"):
        sparse_soft_label_stats(np.array([[9, 3]]), np.zeros((1, 2)), np.array([0.0]), 4, np.array([-1.0]))


# ---------------------------------------------------------------------------------------
# Error against the exact recorder on a real training run (a linear softmax model)
# ---------------------------------------------------------------------------------------

def _bench_training_run():
    """bench/recorder_topk.py's training run (SGD on noisy Gaussian classes, 10% wrong labels,
    3% pure-noise samples, feature noise at every visit): the test asserts on a small run of
    the generator the bench reports at scale."""
    path = Path(__file__).resolve().parents[2] / "bench" / "recorder_topk.py"
    spec = importlib.util.spec_from_file_location("bench_recorder_topk", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.train_and_record


def _spearman(a, b):
    ranks_a, ranks_b = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


@pytest.fixture(scope="module")
def training_run():
    """One training run recorded exactly and with k = 4, 8, 16 (the labels go to update)."""
    exact = LogitRecorder(1200, 60)
    sparse = {k: TopKLogitRecorder(1200, 60, k=k) for k in (4, 8, 16)}
    labels, _ = _bench_training_run()([exact, *sparse.values()], num_samples=1200, num_classes=60, dim=24,
                                      epochs=8, lr=0.05, seed=0)
    return exact, sparse, labels


@pytest.mark.parametrize("k, max_score_p99", [(8, 0.06), (16, 0.05)])
def test_topk_matches_the_exact_recorder_on_a_training_run(training_run, k, max_score_p99):
    # Measured (README): k = 4: Spearman 0.9959, flags 0.9942; k = 8: 0.9986, 0.9958; k = 16: 0.9995, 0.9983.
    exact, sparse, labels = training_run
    soft = exact.soft_labels().double().numpy()
    summary = sparse[k].summary()
    entropy, top, predicted = sparse_soft_label_stats(summary.index, summary.mean, summary.rest_logit, 60,
                                                      summary.rest_spread)
    assert _spearman(entropy, entropy_scores(soft)) >= 0.99
    exact_flags = predicted_labels(soft) != labels
    assert 0.05 < exact_flags.mean() < 0.5  # the flags are not trivial
    assert ((predicted != labels) == exact_flags).mean() >= 0.99
    error = np.abs(top - max_scores(soft))
    assert np.percentile(error, 99) <= max_score_p99 and error.mean() <= 0.012


@pytest.mark.slow
def test_topk_matches_the_exact_recorder_on_a_small_cnn_training():
    # The small CNN from scratch on 40 identities x 15 noisy 32x16 images, 20% wrong labels,
    # 12 epochs (bench/recorder_topk_cnn.py, first run): both recorders are hooks of one fit.
    from reidprune.models.reid import build_model
    from reidprune.train.config import cpu_quick_config
    from reidprune.train.loop import fit

    generator = torch.Generator().manual_seed(0)
    prototypes = torch.randint(0, 256, (40, 3, 32, 16), generator=generator, dtype=torch.uint8)
    truth = np.repeat(np.arange(40), 15)
    pixels = torch.randint(0, 80, (600, 3, 32, 16), generator=generator, dtype=torch.uint8)
    images = (prototypes[truth].to(torch.int16) * 3 // 4 + pixels).clamp(0, 255).to(torch.uint8)
    rng = np.random.default_rng(0)
    labels = truth.copy()
    flip = rng.random(600) < 0.2
    labels[flip] = rng.integers(0, 40, int(flip.sum()))
    exact, sparse = LogitRecorder(600, 40), TopKLogitRecorder(600, 40, k=8)
    config = cpu_quick_config(epochs=12, batch_size=32, height=32, width=16)
    torch.manual_seed(0)
    fit(build_model(config.backbone, 40), images, labels, config, hooks=[exact, sparse], progress=False)
    soft = exact.soft_labels().double().numpy()
    summary = sparse.summary()
    entropy, top, predicted = sparse_soft_label_stats(summary.index, summary.mean, summary.rest_logit, 40,
                                                      summary.rest_spread)
    exact_flags = predicted_labels(soft) != labels
    assert 0.1 < exact_flags.mean() < 0.3 and np.median(max_scores(soft)) < 0.3  # flat soft labels
    assert _spearman(entropy, entropy_scores(soft)) >= 0.99  # measured 0.998
    assert ((predicted != labels) == exact_flags).mean() >= 0.99  # measured 0.998
    assert np.abs(top - max_scores(soft)).max() <= 0.06  # measured 0.042
