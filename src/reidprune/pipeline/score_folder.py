"""``reidprune score``: score every training image of a dataset folder into ``OUT/scores.npz``.

Loads the folder, builds the training configuration from the preset and the options given,
fails early on what can be checked before training, scores, then writes the scores and prints
what each method cost.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reidprune.data.layouts import load_counted
from reidprune.data.table import SampleTable
from reidprune.models.weights import resolve_weights
from reidprune.models.names import check_input_size
from reidprune.validation.paths import output_lock
from reidprune.pipeline.loading import load_training_images
from reidprune.data.noise import probe_count
from reidprune.pipeline.options import Echo, ReadOptions, ScoreRequest
from reidprune.select.calibration import MIN_PROBES
from reidprune.pipeline.scoring import score_dataset
from reidprune.scores.store import ScoreSet
from reidprune.train import distributed
from reidprune.presets import PRESETS, config_from_choices
from reidprune.train.config import TrainChoices


@dataclass
class ScoredFolder:
    """What scoring a folder produced (``run`` prunes with it)."""

    table: SampleTable  # the whole dataset
    train: SampleTable  # the training rows scored (readable ones)
    images: object  # their uint8 images
    scores: ScoreSet


def score_folder(data: str | Path, out: str | Path, train: TrainChoices, request: ScoreRequest, read: ReadOptions,
                 *, echo: Echo) -> ScoredFolder:
    """Score ``data`` into ``out/scores.npz`` while holding ``out``'s lock (see :func:`score_into`)."""
    with output_lock(out):
        return score_into(data, out, train, request, read, echo=echo)


def score_into(data: str | Path, out: str | Path, train: TrainChoices, request: ScoreRequest, read: ReadOptions,
               *, echo: Echo, before_training: Callable[[SampleTable], None] | None = None) -> ScoredFolder:
    """Score every training image of ``data``; writes ``out/scores.npz`` (resumes from ``out/checkpoints``).

    Parameters
    ----------
    data: the dataset folder.
    out: the output folder (created; the caller holds its lock).
    train: the training options given; the preset fills the rest.
    request: what to score and how (:meth:`ScoreRequest.resolve` fills in the stop on this set).
    read: how the dataset is read.
    echo: prints results and progress notes (see :data:`Echo`).
    before_training: called with the dataset table before any training (checks of later steps).
    """
    if distributed.init_from_env() and not distributed.is_main():  # under torchrun: rank 0 speaks
        echo = _silent
    table, skipped = load_counted(data, read.layout)
    config, preset = config_from_choices(train, table.layout, scoring=True)
    check_input_size(config.backbone, config.height, config.width)
    probes = probe_count(table.split_table("train").label, request.probe_fraction)
    options = request.resolve(config, train.seed, probes, MIN_PROBES)
    methods = options.methods
    out = Path(out)
    if before_training is not None:
        before_training(table)
    _, weights = resolve_weights(config.backbone, config.weights, config.pretrained)  # fails before any work
    echo(f"weights: {weights.describe()}", err=True)
    rows, images, skipped["unreadable"] = load_training_images(table, (config.height, config.width),
                                                               read.skip_bad_images, read.progress)
    echo(f"scoring {len(rows)} images of {rows.num_classes} identities with {', '.join(methods)} "
         f"({preset} preset: {config.backbone} at {config.height}x{config.width}, {config.epochs} epochs, "
         f"{config.mode} mode)", err=True)
    began = time.perf_counter()
    scores = score_dataset(rows, images, options, workdir=out / "checkpoints", progress=read.progress)
    scores.info.update({"dataset": str(table.root), "layout": table.layout, "preset": preset,
                        "delta": PRESETS[preset].delta,
                        "seconds": time.perf_counter() - began,
                        "skipped_files": {k: v for k, v in skipped.items() if v}})
    scored = ScoredFolder(table, rows, images, scores)
    if not distributed.is_main():  # every rank holds the same scores; rank 0 writes them
        return scored
    scores.save(out / "scores.npz")
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    echo(format_costs(scores))
    if "entropy" in scores.methods:
        echo(format_diagnostics(scores["entropy"].params))
    echo(f"scores written to {out / 'scores.npz'}")
    return scored


def _silent(*args, **kwargs) -> None:
    pass


def format_diagnostics(params: dict) -> str:
    """The entropy run's per-epoch diagnostics and where its soft labels stopped, as a table."""
    if not params.get("diagnostics"):  # the top-k recorder keeps no full soft labels to compare
        return f"soft labels from epochs 1-{params.get('score_epochs')} (fixed T; no per-epoch diagnostics)"
    lines = [f"{'epoch':>5} {'train acc':>9} {'flagged':>8} {'argmax chg':>10} {'spearman':>8}"]
    for d in params.get("diagnostics", []):
        chg = "" if d["argmax_changed"] is None else f"{d['argmax_changed']:.4f}"
        rho = "" if d["spearman"] is None else f"{d['spearman']:.4f}"
        lines.append(f"{d['epoch']:>5} {d['train_accuracy']:>9.3f} {d['flagged']:>8.3f} {chg:>10} {rho:>8}")
    if isinstance(params.get("calibration"), dict):
        lines.append(f"{'epoch':>5} {'probe recall':>12} {'est. precision':>14} {'est. F1':>7} {'correction':>10}")
        for e in params["calibration"]["history"]:
            lines.append(f"{e['epoch']:>5} {e['recall']:>12.3f} {e['precision']:>14.3f} {e['f1']:>7.3f} "
                         f"{e['correction']:>10.3f}")
    saved = f", {params['epochs_saved']} of {params['cap']} epochs saved" if params.get("epochs_saved") else ""
    lines.append(f"soft labels from epochs 1-{params.get('stopped_at')} ({params.get('stop_reason')}{saved})")
    return "\n".join(lines)


def format_costs(scores: ScoreSet) -> str:
    """What each method's training runs cost (epochs, runs, seconds), as a table."""
    lines = [f"{'method':<12} {'epochs':>8} {'runs':>5} {'seconds':>9}"]
    for name, m in scores.methods.items():
        rows = [(name, m.cost)] + ([("aum flags", m.cost["threshold_runs"])] if "threshold_runs" in m.cost else [])
        for label, cost in rows:
            lines.append(f"{label:<12} {cost.get('epochs', 0):>8g} {cost.get('runs', 0):>5} "
                         f"{cost.get('seconds', 0.0):>9.1f}")
    lines.append("(methods sharing a run show that run's cost; each run is paid once)")
    return "\n".join(lines)
