"""Training configuration: one dataclass, defaults from FastReID's bag of tricks, the presets,
and how the options a user gives (:class:`TrainChoices`) become a :class:`TrainConfig`.

Imports no torch or numpy: the command line's ``--help`` reads the presets from here.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from reidprune.errors import ReidPruneError

MODES = ("reid", "classify")


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal flip
    pad: int = 10  # pixels of zero padding before the random crop back to size
    erasing: float = 0.5  # probability of random erasing (Zhong et al. 2020)
    erase_area: tuple[float, float] = (0.02, 0.4)
    erase_ratio: tuple[float, float] = (0.3, 3.3)


@dataclass(frozen=True)
class TrainConfig:
    """How to train one model.

    ``mode="reid"``: CE with label smoothing on the BNNeck logits + batch-hard triplet on the
    pre-BN feature, P x K identity sampler. ``mode="classify"``: CE only (no smoothing unless
    set), shuffled batches (CIFAR-100, CUB, and EL2N / GraNd runs, which the paper trains with
    CE only).
    """

    mode: str = "reid"
    backbone: str = "resnet50"
    epochs: int = 120
    batch_size: int = 64
    instances: int = 4  # K of P x K
    lr: float = 3.5e-4
    weight_decay: float = 5e-4
    warmup_iters: int = 2000
    warmup_factor: float = 0.1
    milestones: tuple[int, ...] = (40, 90)  # epochs where lr is multiplied by gamma
    gamma: float = 0.1
    label_smoothing: float = 0.1
    triplet_margin: float = 0.3
    triplet_weight: float = 1.0
    triplet_normalize: bool = False  # triplet on unit-length features (see cpu_train_config)
    height: int = 256
    width: int = 128
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    device: str = "auto"  # "auto" = cuda if available, else cpu
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU; logits are recorded in fp32 regardless)
    channels_last: bool = True  # NHWC memory format on CUDA (ignored on the CPU)
    compile: bool = False  # torch.compile the model (first steps are slow while it compiles)
    weights: str | None = None  # local backbone weight file (wins over ``pretrained``)
    pretrained: bool = False  # start from ImageNet weights (see reidprune.models.weights)
    eval_batch_size: int = 256

    def __post_init__(self):
        if self.mode not in MODES:
            raise ReidPruneError(f"unknown training mode {self.mode!r}; choose one of {MODES}")
        for name in ("epochs", "batch_size", "instances", "height", "width"):
            if getattr(self, name) < 1:
                raise ReidPruneError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            raise ReidPruneError(f"learning rate (--lr) must be a positive finite number, got {self.lr}")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def scaled_schedule(config: TrainConfig, factor: float) -> TrainConfig:
    """``config`` trained ``factor`` times as many epochs, its lr milestones moved with them.

    Used to compare a pruned set with the full one at equal iterations: pruning a fraction f
    and training 1 / (1 - f) times the epochs takes about the same number of steps.
    """
    if not math.isfinite(factor) or factor <= 0:
        raise ReidPruneError(f"epoch factor must be a positive number, got {factor}")
    return config.replace(epochs=max(1, round(config.epochs * factor)),
                          milestones=tuple(max(1, round(m * factor)) for m in config.milestones))


def paper_scoring_config(**changes) -> TrainConfig:
    """The paper's scoring run: 12 epochs, Adam 3.5e-4, no warm-up, no weight decay, batch 64."""
    base = TrainConfig(epochs=12, warmup_iters=0, weight_decay=0.0, milestones=())
    return base.replace(**changes)


def cpu_scoring_config(**changes) -> TrainConfig:
    """The CPU preset's scoring run: ImageNet-pretrained MobileNetV2 at 128x64.

    The paper's optimiser (Adam 3.5e-4, no warm-up, no weight decay, batch 64), CE with label
    smoothing 0.1 on shuffled batches, horizontal flips only. Measured on CUHK03 with 20% noise
    (bench/cuhk03_dynamics.py), this recipe's soft labels find wrong labels best a few epochs in,
    before the model memorises them; ``epochs`` is the cap of the adaptive stop
    (:mod:`reidprune.dynamics.stopping`), which ends the run there.
    """
    base = TrainConfig(mode="classify", backbone="mobilenetv2", pretrained=True, height=128, width=64, epochs=12,
                       warmup_iters=0, weight_decay=0.0, milestones=(), label_smoothing=0.1,
                       augment=AugmentConfig(pad=0, erasing=0.0))
    return base.replace(**changes)


def cpu_reid_scoring_config(**changes) -> TrainConfig:
    """The CPU preset's scoring run in ReID mode (``--mode reid``): the paper's scoring rule.

    The paper scores with the model, losses and augmentation of its full training, for 12
    epochs with the scoring optimiser (Adam 3.5e-4, no warm-up, no weight decay). So this is
    :func:`cpu_train_config` (P x K, CE + LS + triplet on unit-length features, flip, pad-crop,
    random erasing) with the optimiser of :func:`paper_scoring_config`. Without the unit-length
    triplet, a ReID-mode scoring run would undo MobileNetV2's ImageNet features (see
    :func:`cpu_train_config`).
    """
    base = cpu_train_config(epochs=12, warmup_iters=0, weight_decay=0.0, milestones=())
    return base.replace(**changes)


def cpu_train_config(**changes) -> TrainConfig:
    """The CPU preset's full training (retraining a pruned set): pretrained MobileNetV2, 128x64.

    FastReID's recipe shortened for a pretrained model on a CPU: 20 epochs, lr x0.1 at 12,
    a short warm-up, weight decay 5e-4, and the triplet loss on unit-length features. On raw
    MobileNetV2 features the batch-hard triplet starts near 8 (CE: 6.6) and its gradients undo
    the ImageNet features: measured on CUHK03 at 64x32 (bench/cuhk03_recipe.py), 2 epochs of it
    lower rank-1 from 2.5% to 2.0%; with unit-length features rank-1 is 6.5% after 2 epochs and
    27.1% after 6 (CE alone on shuffled batches: 24.6%).
    """
    base = TrainConfig(backbone="mobilenetv2", pretrained=True, height=128, width=64, epochs=20,
                       warmup_iters=200, milestones=(12,), augment=AugmentConfig(pad=5),
                       triplet_normalize=True)
    return base.replace(**changes)


def cpu_quick_config(**changes) -> TrainConfig:
    """The ``small`` preset: a small CNN from scratch at 64x32, for the demo and tests.

    Adam at 3e-3 rather than the paper's 3.5e-4: the paper's 12 scoring epochs start from
    ImageNet weights and run ~2,400 steps on Market-1501; a small CNN from scratch on a
    2,000-image set gets ~370 steps, and at 3.5e-4 its soft labels stay nearly uniform
    (max score ~0.03 for 100 identities; measured on the synthetic world).
    """
    base = TrainConfig(backbone="small", height=64, width=32, epochs=12, warmup_iters=0, lr=3e-3,
                       weight_decay=0.0, milestones=(), augment=AugmentConfig(pad=3))
    return base.replace(**changes)


@dataclass(frozen=True)
class TrainChoices:
    """The training options a user gave (the CLI's training options); None = the preset's value.

    Parameters
    ----------
    preset: one of :data:`reidprune.presets.PRESET_NAMES` (see :mod:`reidprune.presets`).
    mode: ``"reid"`` or ``"classify"``; None = classify for :data:`reidprune.data.layout_names.CLASSIFICATION_LAYOUTS`, else the preset's.
    backbone, epochs, batch_size, instances, lr: override the preset's.
    pretrained: start from ImageNet weights; None = the preset's (off for the small CNN).
    weights: a local backbone weight file (implies pretrained weights).
    size: ``(height, width)`` of the input, or None for the preset's.
    device, amp, compile, seed: as in :class:`TrainConfig` (``amp`` also sets ``channels_last``).
    """

    preset: str = "auto"
    mode: str | None = None
    backbone: str | None = None
    pretrained: bool | None = None
    weights: str | None = None
    size: tuple[int, int] | None = None
    epochs: int | None = None
    batch_size: int | None = None
    instances: int | None = None
    lr: float | None = None
    device: str = "auto"
    amp: bool = True
    compile: bool = False
    seed: int = 0
