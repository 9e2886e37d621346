"""The paper's Figure 2 toy trajectories through the trackers and the baseline scores.

Three samples, three classes, 13 epochs, one presentation per epoch; class 0 is the assigned
class, column 1 the strongest other class, column 2 the weakest.
(a) easy: the assigned logit rises to 7.1, the others settle at 1.6 and 0.5;
(b) hard: correct from the start, ending at 6.7 / 3.1 / 0.4;
(c) harder: the same final logits as (b), but misclassified in epochs 3-4 and 8-9.
The paper reports forgetting 0 / 0 / 2, EL2N 0.01 / 0.04 / 0.04 and entropy 0.09 / 0.30 / 0.66.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidprune.dynamics.trackers import AUMTracker, ForgettingTracker, LossEMATracker
from reidprune.scores.aum import aum_scores
from reidprune.scores.el2n import el2n_scores
from reidprune.scores.forgetting import forgetting_scores

EASY = np.stack([[4.0, 5.6, 6.4, 6.8, 7.0, 7.1, 7.1, 7.1, 7.1, 7.1, 7.1, 7.1, 7.1],
                 [2.0, 1.8, 1.7, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6],
                 [0.5] * 13], axis=1)
HARD = np.stack([[3.0, 4.2, 5.0, 5.5, 5.8, 6.0, 6.2, 6.3, 6.4, 6.5, 6.6, 6.7, 6.7],
                 [2.2, 2.5, 2.7, 2.8, 2.9, 3.0, 3.0, 3.1, 3.1, 3.1, 3.1, 3.1, 3.1],
                 [0.4] * 13], axis=1)
HARDER = np.stack([[3.0, 4.0, 2.6, 2.8, 4.6, 5.2, 5.6, 3.2, 3.4, 5.8, 6.3, 6.6, 6.7],
                   [2.2, 2.6, 3.2, 3.3, 3.0, 3.0, 3.1, 3.6, 3.7, 3.2, 3.1, 3.1, 3.1],
                   [0.4] * 13], axis=1)
TRAJECTORIES = np.stack([EASY, HARD, HARDER], axis=1)  # (13 epochs, 3 samples, 3 classes)
LABELS = np.zeros(3, dtype=np.int64)


def run_trackers():
    trackers = ForgettingTracker(3), AUMTracker(3), LossEMATracker(3, decay=0.9)
    for epoch_logits in TRAJECTORIES:
        for tracker in trackers:
            tracker.update(torch.arange(3), torch.tensor(epoch_logits, dtype=torch.float32),
                           torch.tensor(LABELS))
            tracker.end_epoch()
    return trackers


def entropy_bits_of_mean_logits(trajectory: np.ndarray) -> float:
    mean = trajectory.mean(axis=0)
    p = np.exp(mean - mean.max())
    p /= p.sum()
    return float(-(p * np.log2(p)).sum())


def test_trajectories_match_the_figure_description():
    correct = TRAJECTORIES[:, :, 0] > TRAJECTORIES[:, :, 1:].max(axis=2)
    assert correct[:, 0].all() and correct[:, 1].all()
    # (c) is wrong in two separate stretches and right at the end.
    assert np.flatnonzero(~correct[:, 2]).tolist() == [2, 3, 7, 8]
    np.testing.assert_array_equal(TRAJECTORIES[-1, 1], TRAJECTORIES[-1, 2])
    np.testing.assert_array_equal(TRAJECTORIES[-1, 0], [7.1, 1.6, 0.5])


def test_forgetting_is_0_0_2():
    forgetting, _, _ = run_trackers()
    assert forgetting.forgets.tolist() == [0, 0, 2]
    scores = forgetting_scores(forgetting.forgets.numpy(), forgetting.ever_correct.numpy(), seed=0)
    # Forgetting cannot tell (a) from (b): both are 0 + jitter, (c) is above both.
    assert scores[2] > max(scores[0], scores[1])
    assert abs(scores[0] - scores[1]) < 0.5


def test_el2n_of_final_logits_cannot_tell_hard_from_harder():
    scores = el2n_scores(TRAJECTORIES[-1], LABELS)
    assert scores[1] == scores[2]
    assert scores[0] < scores[1]
    # The figure's rounded values 0.01 and 0.04.
    np.testing.assert_allclose(scores, [0.0069, 0.0389, 0.0389], atol=1e-4)


def test_entropy_of_mean_logits_orders_easy_hard_harder():
    entropies = [entropy_bits_of_mean_logits(TRAJECTORIES[:, i]) for i in range(3)]
    assert entropies[0] < entropies[1] < entropies[2]
    # Close to the figure's 0.09 / 0.30 / 0.66 (our trajectories are read off a plot).
    np.testing.assert_allclose(entropies, [0.09, 0.30, 0.66], atol=0.12)


def test_aum_and_loss_ema_also_rank_harder_last():
    _, aum, ema = run_trackers()
    importance = aum_scores(aum.aum().numpy())
    assert importance[0] < importance[1] < importance[2]
    # AUM of (b) by hand: mean of (assigned - max other) over the 13 epochs.
    assert aum.aum()[1].item() == pytest.approx((HARD[:, 0] - HARD[:, 1]).mean(), abs=1e-5)
    # The EMA forgets early epochs: (b) and (c) end with the same logits, yet (c) stays higher.
    losses = ema.ema_loss().numpy()
    assert losses[0] < losses[1] < losses[2]
