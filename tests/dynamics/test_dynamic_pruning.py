"""Dynamic pruning: the plan by hand, the loop trains fewer iterations on the same schedule, the CLI."""
import json

import numpy as np
import pytest
import torch

from reidprune.dynamics.dynamic_pruning import DynamicPruner
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.errors import ReidPruneError
from reidprune.models.losses import cross_entropy


def _recorder_with(logits):
    recorder = LogitRecorder(len(logits), logits.shape[1])
    recorder.update(torch.arange(len(logits)), torch.as_tensor(logits, dtype=torch.float32))
    recorder.end_epoch()
    return recorder


def test_the_plan_skips_a_share_of_the_easy_samples_and_rescales_the_rest():
    """Samples 0-3 confident (entropy ~0, easy), 4-7 flat (entropy log 4): the mean splits them."""
    logits = np.zeros((8, 4))
    logits[:4, 0] = 20.0
    pruner = DynamicPruner(_recorder_with(logits), ratio=0.5, anneal=0.25, seed=3)
    draws = np.random.default_rng([3, 2, 0xD1]).random(8)
    dropped = np.flatnonzero((np.arange(8) < 4) & (draws < 0.5))
    active, weights = pruner.plan(2, 8)
    assert set(active) == set(range(8)) - set(dropped)
    easy_kept = [i for i in range(4) if i not in dropped]
    assert np.allclose(weights[easy_kept], 2.0) and np.allclose(weights[4:], 1.0)
    assert pruner.skipped == len(dropped)
    assert pruner.plan(2, 8)[0] is active  # asked again: the same plan
    assert pruner.plan(7, 8) == (None, None)  # the last quarter of 8 epochs (7, 8) trains on everything
    fresh = DynamicPruner(LogitRecorder(8, 4), ratio=0.5)
    assert fresh.plan(1, 8) == (None, None)  # nothing recorded yet: everything
    with pytest.raises(ReidPruneError, match=r"\[0, 1\)"):
        DynamicPruner(fresh.recorder, ratio=1.0)


def test_mean_and_median_easy_sets_by_hand():
    """Two confident samples (entropy ~0) among eight flat ones (log 4): below the mean (0.8 log 4)
    are the two. Ten distinct entropies (logit i / 2 on class 0 for sample i): below the median are
    exactly the five most confident, 5-9."""
    seen = np.ones(10, bool)
    logits = np.zeros((10, 4))
    logits[:2, 0] = 30.0
    assert list(np.flatnonzero(DynamicPruner(_recorder_with(logits), easy="mean")._easy(seen))) == [0, 1]
    logits = np.zeros((10, 4))
    logits[:, 0] = np.arange(10) / 2
    assert list(np.flatnonzero(DynamicPruner(_recorder_with(logits), easy="median")._easy(seen))) == [5, 6, 7, 8, 9]
    with pytest.raises(ReidPruneError, match="mean, median"):
        DynamicPruner(_recorder_with(logits), easy="mode")


def test_the_plan_survives_a_checkpoint():
    logits = np.zeros((8, 4))
    logits[:4, 0] = 20.0
    pruner = DynamicPruner(_recorder_with(logits), ratio=0.5, seed=1)
    active, weights = pruner.plan(2, 8)
    again = DynamicPruner(LogitRecorder(8, 4), ratio=0.5, seed=1)  # its recorder is empty: only the state plans
    again.load_state_dict(pruner.state_dict())
    resumed = again.plan(2, 8)
    assert np.array_equal(resumed[0], active) and np.array_equal(resumed[1], weights)
    assert again.skipped == pruner.skipped


def test_weighted_cross_entropy_is_the_mean_of_weighted_losses():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0])
    each = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    weighted = cross_entropy(logits, labels, 0.0, torch.tensor([2.0, 1.0]))
    assert weighted.item() == pytest.approx(((2 * each[0] + each[1]) / 2).item())
    assert cross_entropy(logits, labels, 0.0).item() == pytest.approx(each.mean().item())


def test_the_loop_trains_fewer_iterations_on_the_full_schedule(tmp_path):
    from reidprune.models.reid import build_model
    from reidprune.train.config import cpu_quick_config
    from reidprune.train.loop import fit

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 16)
    images = torch.as_tensor(rng.integers(0, 255, (64, 3, 32, 16)), dtype=torch.uint8)
    images[:, 0] = torch.as_tensor(labels[:, None, None] * 60, dtype=torch.uint8)  # learnable: red = identity
    config = cpu_quick_config(epochs=4, batch_size=8, instances=4, height=32, width=16, device="cpu",
                              milestones=(3,))
    full = fit(build_model("small", 4), images, labels, config, progress=False)
    recorder = LogitRecorder(64, 4)
    pruner = DynamicPruner(recorder, ratio=0.9, anneal=0.25, seed=0)
    model = build_model("small", 4)
    pruned = fit(model, images, labels, config, hooks=[recorder], progress=False, pruner=pruner,
                 checkpoint=tmp_path / "run.ckpt")
    assert full.iterations == 4 * 8 and pruned.iterations < full.iterations
    assert pruner.skipped > 0
    # the learning-rate schedule advanced by the full set's 32 steps, so its epoch-3 milestone held
    schedule = torch.load(tmp_path / "run.ckpt", weights_only=False)["scheduler"]
    assert [s["last_epoch"] for s in schedule["_schedulers"]] == [32]
    assert schedule["_last_lr"][0] == pytest.approx(config.lr * config.gamma)
