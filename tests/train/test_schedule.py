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


def _formula_lrs(config, iters_per_epoch: int, iterations: int) -> list[float]:
    """The schedule as a formula (the LambdaLR factor the loop used before torch's schedulers)."""
    milestones = [m * iters_per_epoch for m in config.milestones]
    lrs = []
    for it in range(iterations):
        warm = 1.0
        if config.warmup_iters and it < config.warmup_iters:
            alpha = it / config.warmup_iters
            warm = config.warmup_factor * (1 - alpha) + alpha
        lrs.append(config.lr * warm * config.gamma ** sum(it >= m for m in milestones))
    return lrs


def _scheduled_lrs(config, iters_per_epoch: int, iterations: int) -> list[float]:
    optimizer, scheduler = make_optimizer(torch.nn.Linear(2, 2), config, iters_per_epoch)
    lrs = []
    for _ in range(iterations):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("changes", [
    {"warmup_iters": 25, "warmup_factor": 0.01, "milestones": (4, 7), "gamma": 0.5},
    {"warmup_iters": 60, "warmup_factor": 0.1, "milestones": (3, 5), "gamma": 0.1},  # milestone inside warm-up
    {"warmup_iters": 0, "milestones": (2, 6, 6), "gamma": 0.3},  # no warm-up, a repeated milestone
    {"warmup_iters": 0, "milestones": ()},  # constant
])
def test_torch_schedulers_follow_the_formula_every_iteration(changes):
    config = TrainConfig(lr=3.5e-4, **changes)
    expected = _formula_lrs(config, iters_per_epoch=10, iterations=100)
    assert _scheduled_lrs(config, 10, 100) == pytest.approx(expected, rel=1e-12, abs=0)


def test_constant_schedule_is_exactly_the_base_lr():
    config = TrainConfig(lr=3.5e-4, warmup_iters=0, milestones=())
    assert set(_scheduled_lrs(config, 10, 50)) == {3.5e-4}


def test_schedule_resumes_from_its_state_dict():
    config = TrainConfig(lr=1e-3, warmup_iters=15, warmup_factor=0.1, milestones=(2, 4), gamma=0.1)
    whole = _scheduled_lrs(config, 10, 60)
    optimizer, scheduler = make_optimizer(torch.nn.Linear(2, 2), config, 10)
    for _ in range(23):
        optimizer.step()
        scheduler.step()
    saved = optimizer.state_dict(), scheduler.state_dict()
    optimizer, scheduler = make_optimizer(torch.nn.Linear(2, 2), config, 10)
    optimizer.load_state_dict(saved[0])
    scheduler.load_state_dict(saved[1])
    rest = []
    for _ in range(60 - 23):
        rest.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rest == pytest.approx(whole[23:], rel=1e-12, abs=0)
