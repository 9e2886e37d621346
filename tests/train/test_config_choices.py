"""How the training options a user gives become a TrainConfig (the presets fill the rest)."""
import pytest

from reidprune.errors import ReidPruneError
from reidprune.presets import config_from_choices
from reidprune.train.config import TrainChoices, cpu_quick_config, cpu_scoring_config, cpu_train_config


def test_small_preset_scoring_run_on_market():
    config, preset = config_from_choices(TrainChoices(preset="small", device="cpu", seed=3), "market1501", True)
    assert preset == "small"
    assert config == cpu_quick_config(device="cpu", seed=3, pretrained=False)
    assert (config.backbone, config.height, config.width, config.epochs, config.mode) == ("small", 64, 32, 12, "reid")


def test_small_preset_full_training_is_30_epochs_and_options_override_it():
    choices = TrainChoices(preset="small", device="cpu", size=(32, 16), lr=1e-3, epochs=2, amp=False)
    config, _ = config_from_choices(choices, "market1501", False)
    assert (config.height, config.width, config.lr, config.epochs) == (32, 16, 1e-3, 2)
    assert not config.amp and not config.channels_last
    assert config_from_choices(TrainChoices(preset="small", device="cpu"), "market1501", False)[0].epochs == 30


def test_classification_layouts_train_with_plain_cross_entropy():
    config, _ = config_from_choices(TrainChoices(preset="small", device="cpu"), "cifar100", True)
    assert (config.mode, config.label_smoothing) == ("classify", 0.0)
    reid, _ = config_from_choices(TrainChoices(preset="small", device="cpu", mode="reid"), "cub200", True)
    assert (reid.mode, reid.label_smoothing) == ("reid", 0.1)


def test_auto_preset_on_the_cpu_is_the_cpu_preset():
    config, preset = config_from_choices(TrainChoices(device="cpu"), "market1501", True)
    assert preset == "cpu"
    assert config == cpu_scoring_config(device="cpu")  # pretrained MobileNetV2 at 128x64, classify mode
    weights, _ = config_from_choices(TrainChoices(device="cpu", backbone="small", weights="w.pt"), "market1501", True)
    assert weights.pretrained and weights.weights == "w.pt"  # a weight file keeps pretrained on


def test_cpu_preset_scoring_in_reid_mode_is_the_full_trainings_recipe_with_the_scoring_optimiser():
    config, _ = config_from_choices(TrainChoices(device="cpu", mode="reid"), "market1501", True)
    full, _ = config_from_choices(TrainChoices(device="cpu"), "market1501", False)
    assert full == cpu_train_config(device="cpu")
    # the paper: same model, losses and augmentation as the full training ...
    assert (config.mode, config.triplet_normalize, config.augment, config.label_smoothing) == \
        ("reid", True, full.augment, 0.1)
    assert config.augment.erasing == 0.5 and config.augment.pad == 5
    # ... for 12 epochs with Adam 3.5e-4, no warm-up, no weight decay, no lr steps
    assert (config.epochs, config.lr, config.warmup_iters, config.weight_decay, config.milestones) == \
        (12, 3.5e-4, 0, 0.0, ())


def test_one_record_per_preset_holds_its_runs_and_its_threshold():
    from reidprune.presets import PRESET_NAMES, PRESETS, preset_config

    assert PRESET_NAMES == ("auto", "paper", "cpu", "small")
    assert {name: p.delta for name, p in PRESETS.items()} == {"paper": 0.10, "cpu": 0.03, "small": 0.10}
    for name, preset in PRESETS.items():
        assert preset_config(name, True, False)[0] == preset.scoring()
        assert preset_config(name, False, False)[0] == preset.training()
    assert (PRESETS["cpu"].scoring().height, PRESETS["cpu"].scoring().width) == (128, 64)
    assert PRESETS["paper"].training().backbone == "resnet50" and PRESETS["small"].training().epochs == 30
    assert preset_config("auto", True, cuda=True)[1] == "paper" and preset_config("auto", True, cuda=False)[1] == "cpu"


def test_a_scaled_schedule_moves_the_epochs_and_the_lr_milestones_together():
    from reidprune.train.config import TrainConfig, scaled_schedule

    config = TrainConfig(epochs=12, milestones=(8, 10), warmup_iters=200)
    longer = scaled_schedule(config, 1 / (1 - 0.7))  # 12 / 0.3 = 40
    assert (longer.epochs, longer.milestones, longer.warmup_iters) == (40, (27, 33), 200)
    assert scaled_schedule(config, 0.01).epochs == 1
    with pytest.raises(ReidPruneError, match="epoch factor"):
        scaled_schedule(config, 0.0)
