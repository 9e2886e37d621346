"""Forgetting, AUM and loss-EMA trackers: hand-computed sequences, duplicate ids, resuming."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reidprune.dynamics.base import TrainingHook
from reidprune.dynamics.trackers import AUMTracker, ForgettingTracker, LossEMATracker
from reidprune.errors import ReidPruneError


def feed(tracker, ids, logits, labels):
    tracker.update(torch.tensor(ids), torch.tensor(logits, dtype=torch.float32), torch.tensor(labels))


# --- reference implementations: one presentation at a time, in batch order -------------------

def reference_forgetting(batches, num_samples):
    forgets = [0] * num_samples
    ever = [False] * num_samples
    last = [False] * num_samples
    for ids, logits, labels in batches:
        for i, z, y in zip(ids, logits, labels):
            correct = int(np.argmax(z)) == y
            forgets[i] += int(last[i] and not correct)
            ever[i] |= correct
            last[i] = correct
    return np.array(forgets), np.array(ever), np.array(last)


def reference_ema(batches, num_samples, decay):
    ema = [None] * num_samples
    for ids, logits, labels in batches:
        for i, z, y in zip(ids, logits, labels):
            z = np.asarray(z, dtype=np.float64)
            loss = np.log(np.exp(z - z.max()).sum()) + z.max() - z[y]
            ema[i] = loss if ema[i] is None else decay * ema[i] + (1 - decay) * loss
    return np.array(ema)


def random_batches(rng, num_samples, num_classes, num_batches, batch_size):
    """Batches drawn with replacement from few ids, so most batches repeat ids 2-4 times."""
    batches = []
    for _ in range(num_batches):
        ids = rng.integers(0, num_samples, size=batch_size).tolist()
        logits = rng.normal(size=(batch_size, num_classes)).round(3).tolist()
        labels = rng.integers(0, num_classes, size=batch_size).tolist()
        batches.append((ids, logits, labels))
    return batches


# --- forgetting --------------------------------------------------------------------------------

def test_forgetting_counts_correct_to_incorrect_transitions():
    tracker = ForgettingTracker(2)
    # label 0; sample 0 goes correct, wrong, correct, wrong -> 2 events;
    # sample 1 starts wrong (no event: no previous presentation), then correct -> 0 events.
    sequence = [
        ([[2.0, 0.0], [0.0, 1.0]]),
        ([[0.0, 2.0], [3.0, 1.0]]),
        ([[2.0, 0.0], [3.0, 1.0]]),
        ([[0.0, 2.0], [3.0, 1.0]]),
    ]
    for logits in sequence:
        feed(tracker, [0, 1], logits, [0, 0])
        tracker.end_epoch()
    assert tracker.forgets.tolist() == [2, 0]
    assert tracker.ever_correct.tolist() == [True, True]
    assert tracker.last_correct.tolist() == [False, True]
    assert tracker.counts.tolist() == [4, 4]
    assert isinstance(tracker, TrainingHook)


def test_forgetting_duplicate_ids_are_consecutive_presentations_in_batch_order():
    tracker = ForgettingTracker(3)
    # Batch order for id 0: correct, incorrect, correct  -> one event (2nd occurrence).
    # Id 1 occurs once, incorrect. Label is 1 everywhere.
    feed(tracker, [0, 1, 0, 0], [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], [1, 1, 1, 1])
    assert tracker.forgets.tolist() == [1, 0, 0]
    assert tracker.last_correct.tolist() == [True, False, False]
    assert tracker.num_correct.tolist() == [2, 0, 0]
    assert tracker.counts.tolist() == [3, 1, 0]
    # Next batch: id 0 incorrect (previous: the last occurrence above, correct) -> second event.
    feed(tracker, [0, 0], [[1.0, 0.0], [1.0, 0.0]], [1, 1])
    assert tracker.forgets.tolist() == [2, 0, 0]
    assert tracker.last_correct.tolist() == [False, False, False]


def test_forgetting_matches_sequential_reference_with_many_duplicates():
    rng = np.random.default_rng(0)
    batches = random_batches(rng, num_samples=6, num_classes=3, num_batches=40, batch_size=8)
    tracker = ForgettingTracker(6)
    for batch in batches:
        feed(tracker, *batch)
    forgets, ever, last = reference_forgetting(batches, 6)
    assert forgets.sum() > 10  # the random sequence really exercises the events
    np.testing.assert_array_equal(tracker.forgets.numpy(), forgets)
    np.testing.assert_array_equal(tracker.ever_correct.numpy(), ever)
    np.testing.assert_array_equal(tracker.last_correct.numpy(), last)


def test_forgetting_never_correct_sample_has_no_events_and_is_not_ever_correct():
    tracker = ForgettingTracker(2)
    for _ in range(3):
        feed(tracker, [0, 1], [[0.0, 1.0], [1.0, 0.0]], [0, 0])
    assert tracker.forgets.tolist() == [0, 0]
    assert tracker.ever_correct.tolist() == [False, True]


# --- AUM -------------------------------------------------------------------------------------

def test_aum_hand_computed_margins():
    tracker = AUMTracker(2)
    # Sample 0, label 1:
    #   epoch 1 [2.0, 1.0, 0.0]  margin 1.0 - 2.0 = -1.0
    #   epoch 2 [0.0, 3.0, 1.0]  margin 3.0 - 1.0 =  2.0
    #   epoch 3 [1.0, 2.5, -1.0] margin 2.5 - 1.0 =  1.5   -> AUM = 2.5 / 3 = 0.8333...
    # Sample 1, label 2: margins 0.0 - 2.0 = -2.0, 1.0 - 3.0 = -2.0, -1.0 - 2.5 = -3.5 -> -7.5 / 3 = -2.5
    epochs = [[[2.0, 1.0, 0.0], [2.0, 1.0, 0.0]],
              [[0.0, 3.0, 1.0], [0.0, 3.0, 1.0]],
              [[1.0, 2.5, -1.0], [1.0, 2.5, -1.0]]]
    for logits in epochs:
        feed(tracker, [0, 1], logits, [1, 2])
        tracker.end_epoch()
    np.testing.assert_allclose(tracker.aum().numpy(), [2.5 / 3, -2.5], atol=1e-6)


def test_aum_duplicates_count_as_presentations():
    tracker = AUMTracker(2)
    # id 0 twice: margins 1 - 0 = 1 and 0 - 3 = -3 -> mean -1
    feed(tracker, [0, 0, 1], [[1.0, 0.0], [0.0, 3.0], [0.0, 1.0]], [0, 0, 1])
    np.testing.assert_allclose(tracker.aum().numpy(), [-1.0, 1.0])


def test_aum_raises_for_unpresented_sample():
    tracker = AUMTracker(3)
    feed(tracker, [0, 1], [[1.0, 0.0], [0.0, 1.0]], [0, 1])
    with pytest.raises(ReidPruneError, match="never presented"):
        tracker.aum()


# --- loss EMA --------------------------------------------------------------------------------

def test_loss_ema_hand_computed_with_decay_09():
    tracker = LossEMATracker(1, decay=0.9)
    # label 0, 3 classes; CE = -log p_0:
    #   [0, 0, 0]        p_0 = 1/3            loss ln 3    = 1.0986123
    #   [ln 2, 0, 0]     p_0 = 2/4 = 0.5      loss ln 2    = 0.6931472
    #   [ln 8, 0, 0]     p_0 = 8/10 = 0.8     loss ln 1.25 = 0.2231436
    # m1 = ln 3                                   = 1.0986123 (first presentation initialises)
    # m2 = 0.9 * 1.0986123 + 0.1 * 0.6931472      = 1.0580658
    # m3 = 0.9 * 1.0580658 + 0.1 * 0.2231436      = 0.9745736
    expected = [1.0986123, 1.0580658, 0.9745736]
    for row, want in zip([[0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0], [math.log(8), 0.0, 0.0]], expected):
        feed(tracker, [0], [row], [0])
        tracker.end_epoch()
        assert tracker.ema_loss().item() == pytest.approx(want, abs=1e-6)


def test_loss_ema_duplicates_in_one_batch_are_applied_in_order():
    # The same three presentations as above, all in ONE batch (with another id in between).
    tracker = LossEMATracker(2, decay=0.9)
    feed(tracker, [0, 1, 0, 0],
         [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0], [math.log(8), 0.0, 0.0]],
         [0, 0, 0, 0])
    np.testing.assert_allclose(tracker.ema_loss().numpy(), [0.9745736, 1.0986123], atol=1e-6)
    assert tracker.counts.tolist() == [3, 1]


def test_loss_ema_matches_sequential_reference_with_many_duplicates():
    rng = np.random.default_rng(1)
    batches = random_batches(rng, num_samples=5, num_classes=4, num_batches=30, batch_size=8)
    tracker = LossEMATracker(5, decay=0.7)
    for batch in batches:
        feed(tracker, *batch)
    np.testing.assert_allclose(tracker.ema_loss().numpy(), reference_ema(batches, 5, 0.7), rtol=1e-5)


def test_loss_ema_rejects_bad_decay():
    with pytest.raises(ReidPruneError, match="decay"):
        LossEMATracker(3, decay=1.0)


# --- shared behaviour ------------------------------------------------------------------------

def test_epoch_window_skips_inactive_epochs():
    tracker = AUMTracker(1, every=2)
    for margin_logits in ([[5.0, 0.0]], [[1.0, 0.0]], [[0.0, 5.0]], [[3.0, 0.0]]):
        feed(tracker, [0], margin_logits, [0])
        tracker.end_epoch()
    # Only epochs 2 and 4 count: margins 1 and 3.
    assert tracker.counts.tolist() == [2]
    assert tracker.aum().item() == pytest.approx(2.0)


@pytest.mark.parametrize("make", [lambda: ForgettingTracker(5), lambda: AUMTracker(5),
                                  lambda: LossEMATracker(5, decay=0.8)])
def test_state_dict_round_trip_resumes_exactly(make):
    rng = np.random.default_rng(2)
    batches = random_batches(rng, num_samples=5, num_classes=3, num_batches=12, batch_size=6)
    original = make()
    for batch in batches[:6]:
        feed(original, *batch)
    original.end_epoch()
    resumed = make()
    resumed.load_state_dict(original.state_dict())
    for batch in batches[6:]:
        feed(original, *batch)
        feed(resumed, *batch)
    for key, value in original.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, resumed.state_dict()[key]), key
        else:
            assert value == resumed.state_dict()[key], key


def test_load_state_dict_rejects_other_size():
    with pytest.raises(ReidPruneError, match="expected"):
        ForgettingTracker(4).load_state_dict(ForgettingTracker(5).state_dict())


def test_update_requires_labels_and_matching_shapes():
    tracker = ForgettingTracker(3)
    with pytest.raises(ReidPruneError, match="labels"):
        tracker.update(torch.tensor([0]), torch.zeros(1, 2))
    with pytest.raises(ReidPruneError, match="shape"):
        tracker.update(torch.tensor([0, 1]), torch.zeros(1, 2), torch.tensor([0, 1]))
