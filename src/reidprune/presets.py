"""The presets, one record each: the scoring run, the full training, and the outlier threshold of
scores without probes; :func:`config_from_choices` turns a user's :class:`TrainChoices` into a
:class:`TrainConfig` on top of one. The scoring stop is not a preset's: the set decides it
(:func:`reidprune.pipeline.options.default_stop`). No torch import (the ``--help`` reads this).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from reidprune.data.layout_names import CLASSIFICATION_LAYOUTS
from reidprune.errors import ReidPruneError
from reidprune.select.defaults import PAPER_DELTA
from reidprune.train.config import (TrainChoices, TrainConfig, cpu_quick_config, cpu_reid_scoring_config,
                                    cpu_scoring_config, cpu_train_config, paper_scoring_config)


@dataclass(frozen=True)
class Preset:
    """One preset.

    Attributes
    ----------
    name: its ``--preset`` name.
    summary: one line for the help.
    scoring: the scoring run's configuration (backbone, image size, recipe, its length: the cap).
    training: the full training's (``train``, retraining a pruned set).
    delta: the outlier threshold on max(soft label) for scores without probes.
    reid_scoring: the scoring run under ``--mode reid`` where it differs from ``scoring``.
    """

    name: str
    summary: str
    scoring: Callable[[], TrainConfig]
    training: Callable[[], TrainConfig]
    delta: float
    reid_scoring: Callable[[], TrainConfig] | None = None


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("paper", "ImageNet ResNet-50 at 256x128 (the paper's setting, for a GPU)",
           lambda: paper_scoring_config(pretrained=True), lambda: TrainConfig(pretrained=True), PAPER_DELTA),
    # the cpu preset's early-stopped MobileNetV2 has flatter soft labels than the paper's 12 epochs of
    # ResNet-50: on CUHK03 (20% noise, bench/cuhk03_dynamics.py) 0.10 flags 14% of the images, 0.03
    # flags 1.5% (92% of them mislabeled)
    Preset("cpu", "ImageNet MobileNetV2 at 128x64", cpu_scoring_config, cpu_train_config, 0.03,
           reid_scoring=cpu_reid_scoring_config),
    Preset("small", "a small CNN from scratch at 64x32 (synthetic data, tests)", cpu_quick_config,
           lambda: cpu_quick_config(epochs=30), PAPER_DELTA),
)}
#: ``--preset`` choices: ``auto`` is ``paper`` on a GPU, ``cpu`` otherwise
PRESET_NAMES = ("auto", *PRESETS)


def preset_config(preset: str, scoring: bool, cuda: bool, mode: str | None = None) -> tuple[TrainConfig, str]:
    """The training configuration of a preset, and the preset's resolved name.

    ``auto`` is ``paper`` on a GPU, ``cpu`` otherwise. ``scoring`` picks the short scoring run
    rather than a full training; ``mode="reid"`` picks the preset's ReID-mode scoring run where it
    has one.
    """
    if preset not in PRESET_NAMES:
        raise ReidPruneError(f"unknown preset {preset!r}; choose one of {', '.join(PRESET_NAMES)}")
    if preset == "auto":
        preset = "paper" if cuda else "cpu"
    record = PRESETS[preset]
    if not scoring:
        return record.training(), preset
    if mode == "reid" and record.reid_scoring is not None:
        return record.reid_scoring(), preset
    return record.scoring(), preset


def config_from_choices(choices: TrainChoices, layout: str, scoring: bool) -> tuple[TrainConfig, str]:
    """The :class:`TrainConfig` of ``choices`` on a dataset of ``layout``, and the resolved preset.

    Parameters
    ----------
    choices: what the user gave; unset fields take the preset's values.
    layout: the dataset's layout (canonical name); classification layouts default to classify mode.
    scoring: the preset's short scoring run rather than its full training.
    """
    from reidprune.train.loop import resolve_device  # torch: only when a config is built

    base, preset = preset_config(choices.preset, scoring, resolve_device(choices.device).type == "cuda",
                                 choices.mode)
    mode = choices.mode or ("classify" if layout in CLASSIFICATION_LAYOUTS else base.mode)
    changes = {"mode": mode, "device": choices.device, "amp": choices.amp, "channels_last": choices.amp,
               "compile": choices.compile, "seed": choices.seed, "weights": choices.weights}
    for name in ("pretrained", "backbone", "epochs", "batch_size", "instances", "lr"):
        if getattr(choices, name) is not None:
            changes[name] = getattr(choices, name)
    if choices.pretrained is None and choices.weights is None and changes.get("backbone", base.backbone) == "small":
        changes["pretrained"] = False  # the small CNN has no ImageNet weights
    if choices.size is not None:
        changes["height"], changes["width"] = choices.size
    if mode == "classify" and base.mode != "classify":  # CIFAR / CUB: plain CE
        changes.setdefault("label_smoothing", 0.0)
    return base.replace(**changes), preset


def preset_defaults() -> dict[str, str]:
    """What each preset uses for the options whose default depends on it, as ``--help`` shows it."""
    small, cpu, paper = (preset_config(name, True, False)[0] for name in ("small", "cpu", "paper"))
    small_train, cpu_train, paper_train = (preset_config(name, False, False)[0] for name in ("small", "cpu", "paper"))

    def per_preset(value) -> str:
        return f"small preset: {value(small)}; cpu: {value(cpu)}; paper: {value(paper)}"

    return {
        "backbone": per_preset(lambda c: c.backbone),
        "size": per_preset(lambda c: f"{c.height}x{c.width}"),
        "epochs": f"score/run: {paper.epochs}; train: {small_train.epochs} small preset, {cpu_train.epochs} cpu, "
                  f"{paper_train.epochs} paper",
        "batch_size": str(small.batch_size),
        "instances": str(small.instances),
        "lr": per_preset(lambda c: _scientific(c.lr)),
    }


def _scientific(value: float) -> str:
    """3e-3, 3.5e-4: how learning rates are written."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
