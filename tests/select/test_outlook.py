"""`--strategy auto`: the advice follows the images per identity, from the measured anchors."""
import pytest

from reidprune.select.outlook import BOUNDARY, REDUNDANT_STRATEGY, outlook


def test_few_images_per_identity_prune_at_random_and_say_why():
    advice = outlook(10.0, 0.3)
    assert advice.strategy == "random" and "CUHK03" in advice.why and "likely to cost accuracy" in advice.expect
    assert "likely to cost" not in outlook(4.0, 0.1).expect  # 10% or less: no warning
    # the measured costs of random pruning on CUHK03 (cuhk03_sweep_cpu20: full 29.56; 10% 30.69, 30% 25.38)
    assert "cost nothing at 10%" in advice.expect and "4.2" in advice.expect and "--fraction 0.1" in advice.expect


def test_redundant_sets_use_the_strategy_measured_best_there():
    advice = outlook(32.5, 0.5)
    assert advice.strategy == REDUNDANT_STRATEGY == "easy" and "towncentre" in advice.why
    assert "about 3 points" in advice.expect and "expect a cost at 50%" in advice.expect
    assert "expect a cost" not in outlook(32.5, 0.3).expect


def test_the_boundary_is_between_the_anchors():
    assert BOUNDARY == pytest.approx((10 * 32) ** 0.5)
    assert outlook(BOUNDARY - 0.01, 0.2).strategy == "random"
    assert outlook(BOUNDARY, 0.2).strategy == REDUNDANT_STRATEGY
