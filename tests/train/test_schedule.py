"""Learning-rate schedule: linear warm-up from warmup_factor, steps of gamma at epoch milestones."""
import pytest
import torch

from reidprune.train.config import TrainConfig
from reidprune.train.loop import make_optimizer


def test_warmup_then_steps_by_hand():
    config = TrainConfig(lr=1.0, weight_decay=0.0, warmup_iters=10, warmup_factor=0.1, milestones=(2, 3), gamma=0.1)
    model = torch.nn.Linear(2, 2)
    optimizer, scheduler = make_optimizer(model, config, iters_per_epoch=10)
    lrs = []
    for _ in range(35):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.1)  # warm-up starts at warmup_factor
    assert lrs[5] == pytest.approx(0.1 * 0.5 + 0.5)  # halfway: 0.55
    assert lrs[10] == pytest.approx(1.0) and lrs[19] == pytest.approx(1.0)
    assert lrs[20] == pytest.approx(0.1)  # epoch 2 milestone = iteration 20
    assert lrs[30] == pytest.approx(0.01)  # epoch 3 milestone


def test_paper_scoring_run_has_constant_lr():
    from reidprune.train.config import paper_scoring_config

    config = paper_scoring_config()
    optimizer, scheduler = make_optimizer(torch.nn.Linear(2, 2), config, iters_per_epoch=5)
    for _ in range(60):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(3.5e-4)
    assert optimizer.param_groups[0]["weight_decay"] == 0.0 and config.epochs == 12
