"""LogitRecorder: hand-computed sums, counts, epoch windows, soft labels."""
import numpy as np
import pytest
import torch

from reidprune.dynamics.recorder import LogitRecorder
from reidprune.errors import ReidPruneError


def test_sums_and_counts_with_repeated_ids():
    rec = LogitRecorder(num_samples=3, num_classes=2)
    rec.update(torch.tensor([0, 2, 0]), torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    rec.end_epoch()
    rec.update(torch.tensor([1, 2]), torch.tensor([[7.0, 8.0], [9.0, 10.0]]))
    assert rec.sums.tolist() == [[6.0, 8.0], [7.0, 8.0], [12.0, 14.0]]
    assert rec.counts.tolist() == [2, 1, 2]
    assert rec.mean_logits().tolist() == [[3.0, 4.0], [7.0, 8.0], [6.0, 7.0]]


def test_soft_label_is_softmax_of_mean_logits_not_mean_of_softmax():
    rec = LogitRecorder(1, 2)
    rec.update(torch.tensor([0]), torch.tensor([[4.0, 0.0]]))
    rec.update(torch.tensor([0]), torch.tensor([[0.0, 0.0]]))
    # mean logits (2, 0) -> softmax p0 = e^2 / (e^2 + 1) = 0.880797...
    assert rec.soft_labels()[0, 0].item() == pytest.approx(np.exp(2) / (np.exp(2) + 1), abs=1e-6)
    # the mean of the two softmaxes would be (0.98201 + 0.5) / 2 = 0.741
    assert rec.soft_labels()[0, 0].item() != pytest.approx(0.741, abs=1e-2)


@pytest.mark.parametrize("every, stop, expected_epochs", [
    (1, None, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    (4, 12, [4, 8, 12]),
    (6, 12, [6, 12]),
    (12, 12, [12]),  # only the last epoch
    (1, 3, [1, 2, 3]),
])
def test_epoch_windows(every, stop, expected_epochs):
    rec = LogitRecorder(1, 2, every=every, stop=stop)
    for epoch in range(1, 13):
        rec.update(torch.tensor([0]), torch.tensor([[float(epoch), 0.0]]))
        rec.end_epoch()
    assert rec.counts.item() == len(expected_epochs)
    assert rec.sums[0, 0].item() == sum(expected_epochs)


def test_fp16_logits_accumulate_in_fp32():
    rec = LogitRecorder(1, 2)
    for _ in range(3000):
        rec.update(torch.tensor([0]), torch.tensor([[1.0, 0.0]], dtype=torch.float16))
    assert rec.sums.dtype == torch.float32
    assert rec.sums[0, 0].item() == 3000.0  # fp16 would stall at 2048


def test_never_visited_sample_is_an_error():
    rec = LogitRecorder(3, 2)
    rec.update(torch.tensor([0, 1]), torch.zeros(2, 2))
    with pytest.raises(ReidPruneError, match="never recorded.*index 2"):
        rec.mean_logits()


def test_non_finite_logits_are_reported():
    rec = LogitRecorder(2, 2)
    rec.update(torch.tensor([0, 1]), torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]))
    with pytest.raises(ReidPruneError, match="non-finite.*sample 1"):
        rec.mean_logits()


def test_shape_errors():
    rec = LogitRecorder(3, 2)
    with pytest.raises(ReidPruneError, match="3 classes"):
        rec.update(torch.tensor([0]), torch.zeros(1, 3))
    with pytest.raises(ReidPruneError, match="expected ids"):
        rec.update(torch.tensor([0, 1]), torch.zeros(1, 2))


def test_state_dict_round_trip():
    rec = LogitRecorder(2, 2, every=2)
    rec.end_epoch()
    rec.update(torch.tensor([1]), torch.tensor([[1.0, 2.0]]))
    copy = LogitRecorder(2, 2, every=2)
    copy.load_state_dict(rec.state_dict())
    assert torch.equal(copy.sums, rec.sums) and torch.equal(copy.counts, rec.counts)
    assert copy.window.epoch == 2


def test_memory_is_n_by_c():
    rec = LogitRecorder(100, 7)
    assert tuple(rec.sums.shape) == (100, 7) and tuple(rec.counts.shape) == (100,)
