"""Run a pruning sweep: score once per scoring setting, retrain once per cell, record in SQLite.

``run_sweep(data, out, options)`` writes into the folder ``out``:

* ``sweep.sqlite``: one row per finished cell (settings, rank-1 / mAP / mINP / (rank-1 + mAP)/2,
  seconds, iterations, weights, version, time) and one per scoring run (each method's cost);
* ``scores/KEY.npz``: the cached scores of one scoring setting (noise ratio, T, accumulation
  frequency, EL2N models, scoring seed), reused by every cell that needs them and by re-runs;
* ``running/KEY.ckpt``: the checkpoint of the cell being trained (resumed after a kill,
  deleted when the cell finishes).

A re-run with the same fixed settings skips every finished cell; grid values (methods,
fractions, seeds, noise ratios, ...) may be extended freely. Iterations per epoch follow the
kept set's size (``len(kept) // batch``, the training loop's rule), so the fraction pruned is
the training time saved.
"""
from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from reidprune import __version__
from reidprune.errors import ReidPruneError
from reidprune.select.defaults import PAPER_DELTA
from reidprune.experiments.db import SweepDB, now
from reidprune.experiments.grid import (BALANCE_RATIO, BASELINE, Cell, Grid, MethodSpec, expand_grid, parse_list,
                                        read_grid_file)
from reidprune.pipeline.options import ReadOptions
from reidprune.run_key import run_key
from reidprune.presets import config_from_choices
from reidprune.train.config import TrainChoices, TrainConfig, scaled_schedule

DB_NAME = "sweep.sqlite"
#: Config entries that do not change results (left out of cache keys and the fixed setup).
RUNTIME_ONLY = ("device", "eval_batch_size")
#: Sorscher et al.'s class balancing per method (the paper prunes supervised prototypes with 0.5).
CLASS_BALANCE = {"prototypes": 0.5}


@dataclass(frozen=True)
class SweepOptions:
    """A sweep's fixed settings plus its grid.

    Parameters
    ----------
    grid: what varies (:class:`~reidprune.experiments.grid.Grid`).
    score_config: the scoring run; its ``epochs`` is the main run's length E, its ``seed`` the
        scoring (and noise) seed unless ``grid.score_per_seed``.
    retrain_config: each cell's training; its ``seed`` is replaced by the cell's seed.
    layout: dataset layout (``auto`` detects it).
    skip_bad_images: drop unreadable training images (counted) instead of stopping.
    equal_iterations: train a cell pruned by f for 1 / (1 - f) times the retraining epochs (lr
        milestones moved with them), so every cell takes about the unpruned model's iterations;
        False compares at equal epochs.
    """

    grid: Grid
    score_config: TrainConfig
    retrain_config: TrainConfig
    layout: str = "auto"
    skip_bad_images: bool = False
    equal_iterations: bool = False

    def cell_config(self, cell: Cell) -> TrainConfig:
        """The retraining configuration of one cell (its seed; its epochs at equal iterations)."""
        config = self.retrain_config.replace(seed=cell.seed)
        if self.equal_iterations and cell.fraction > 0:
            config = scaled_schedule(config, 1.0 / (1.0 - cell.fraction))
        return config


@dataclass
class SweepResult:
    db: Path
    planned: int  # cells in the grid
    already_done: int  # found finished in the file
    trained: int  # retrainings run now
    scored: int  # scoring runs computed now (cache misses)
    failed: list[str] = field(default_factory=list)  # cells whose selection failed (reason)


def build_grid(grid_file: str | Path | None = None, **values) -> Grid:
    """A :class:`Grid` from a grid file, overridden by the given values (``None`` / empty = not given).

    List values may be comma-separated strings as typed on the command line (``"0.1,0.2"``).
    """
    merged = read_grid_file(grid_file) if grid_file else {}
    kinds = {"fractions": float, "seeds": int, "noise": float, "score_epochs": int, "every": int, "delta": float}
    for name, value in values.items():
        if value is None or value == ():
            continue
        if name in kinds and isinstance(value, str):
            value = parse_list(value, kinds[name], name)
        merged[name] = tuple(value) if isinstance(value, list) else value
    return Grid(**merged)


def sweep_folder(data: str | Path, out: str | Path, grid: Grid, train: TrainChoices, read: ReadOptions = ReadOptions(),
                 *, echo: Callable[..., None], retrain_epochs: int | None = None, equal_iterations: bool = False,
                 dry_run: bool = False, plot: bool = True) -> SweepResult:
    """``reidprune sweep``: :func:`run_sweep` with the scoring and retraining configurations of the
    training options given, then (``plot``) the summary and figures.

    Parameters
    ----------
    data, out: the dataset folder and the sweep folder.
    grid: what varies (:func:`build_grid`).
    train: the training options given; ``epochs`` is the scoring run's length.
    read: how the dataset is read.
    echo: ``echo(text)`` prints results, ``echo(text, err=True)`` progress notes.
    retrain_epochs: epochs of each retraining; None = the preset's full training.
    equal_iterations: see :class:`SweepOptions`.
    dry_run: only count the cells to do.
    plot: write the summary and figures when cells are finished.
    """
    from reidprune.data.layouts import detect_layout, get_layout
    from reidprune.experiments.sweep_report import write_sweep_report

    layout, skip_bad_images, progress = read.layout, read.skip_bad_images, read.progress
    name = detect_layout(data) if layout == "auto" else get_layout(layout).name
    score_config, _ = config_from_choices(train, name, scoring=True)
    retrain_config, _ = config_from_choices(dataclasses.replace(train, epochs=retrain_epochs), name, scoring=False)
    options = SweepOptions(grid, score_config, retrain_config, layout, skip_bad_images, equal_iterations)
    result = run_sweep(data, out, options, progress=progress, dry_run=dry_run, echo=lambda m: echo(m, err=True))
    echo(f"{result.trained} cells trained, {result.scored} scoring runs, {result.already_done} already done; "
         f"results in {result.db}")
    for failure in result.failed:
        echo(f"not done: {failure}", err=True)
    if plot and not dry_run and (result.trained or result.already_done):
        for path in write_sweep_report(result.db):
            echo(f"wrote {path}")
    return result


def run_sweep(data: str | Path, out: str | Path, options: SweepOptions, progress: bool = True,
              echo: Callable[[str], None] = print, dry_run: bool = False) -> SweepResult:
    """Run every unfinished cell of ``options.grid`` on the dataset folder ``data``.

    Parameters
    ----------
    data: a dataset folder (any layout :func:`reidprune.data.layouts.load_dataset` reads).
    out: the sweep folder (created); holds ``sweep.sqlite``, ``scores/`` and ``running/``.
    options: see :class:`SweepOptions`.
    progress: show training progress bars.
    echo: where progress lines go (cells done / to do, time left).
    dry_run: only count the cells (in the grid, finished, to do) and stop.
    """
    from reidprune.data.images import load_images
    from reidprune.data.layouts import load_dataset
    from reidprune.pipeline.retrain import EvalImages

    out = Path(out)
    grid = _resolve_T(options.grid, options.score_config.epochs)
    cells = expand_grid(grid)
    db = SweepDB(out / DB_NAME)
    try:
        done = db.finished_keys()
        todo = [c for c in cells if c.key() not in done]
        echo(f"sweep: {len(cells)} cells, {len(cells) - len(todo)} already in {db.path}, {len(todo)} to do")
        result = SweepResult(db.path, len(cells), len(cells) - len(todo), 0, 0)
        if dry_run:
            for method in dict.fromkeys(c.method for c in todo):
                echo(f"  {method}: {sum(c.method == method for c in todo)} cells to do")
        if not todo or dry_run:
            return result
        table = load_dataset(data, options.layout)
        train = table.split_table("train")
        size = (options.retrain_config.height, options.retrain_config.width)
        if (options.score_config.height, options.score_config.width) != size:
            raise ReidPruneError(f"scoring and retraining must use one input size, got "
                                 f"{options.score_config.height}x{options.score_config.width} and {size[0]}x{size[1]}")
        images, ok = load_images(train, size=size, on_error="skip" if options.skip_bad_images else "raise",
                                 progress=progress)
        if not ok.all():
            keep = np.flatnonzero(ok)
            train, images = train.select(keep), images[keep]
            echo(f"skipped {int((~ok).sum())} unreadable training images")
        db.check_setup(_setup(table, train, options))
        eval_images = EvalImages.load(table, size, progress=progress)
        runner = _Runner(out, table, train, images, eval_images, options, grid, db, progress, echo)
        runner.run(todo, result)
        with contextlib.suppress(OSError):
            (out / "running").rmdir()  # only when empty: nothing left half-trained
        return result
    finally:
        db.close()


def _resolve_T(grid: Grid, epochs: int) -> Grid:
    """T = None means the scoring run's length; write it out so equal settings get one key."""
    values = tuple(dict.fromkeys(epochs if t is None else t for t in grid.score_epochs))
    return dataclasses.replace(grid, score_epochs=values)


def _config_dict(config: TrainConfig, drop_seed: bool = False) -> dict:
    values = {k: v for k, v in asdict(config).items() if k not in RUNTIME_ONLY}
    if drop_seed:
        values.pop("seed")
    return values


def _setup(table, train, options: SweepOptions) -> dict:
    grid = options.grid
    return {"dataset": str(table.root), "fingerprint": train.fingerprint(), "train_images": len(train),
            "identities": int(train.num_classes),
            "score_config": _config_dict(options.score_config, drop_seed=grid.score_per_seed),
            "retrain_config": _config_dict(options.retrain_config, drop_seed=True),
            "score_per_seed": grid.score_per_seed, "delta_relative": grid.delta_relative,
            "class_balance": CLASS_BALANCE,
            **({"equal_iterations": True} if options.equal_iterations else {})}  # absent: older sweeps still match


def select_options(cell: Cell, grid: Grid):
    """The :class:`~reidprune.pipeline.selecting.SelectOptions` that prune a (non-baseline) cell."""
    from reidprune.pipeline.selecting import SelectOptions

    spec = cell.spec
    balance = BALANCE_RATIO if spec.balance else CLASS_BALANCE.get(spec.base, 0.0)
    return SelectOptions(method=spec.base, fraction=cell.fraction, purify=spec.purify,
                         delta=cell.delta if cell.delta is not None else PAPER_DELTA, delta_relative=grid.delta_relative,
                         class_balance=balance, max_outlier_fraction=grid.max_outlier_fraction, seed=cell.seed,
                         strategy=spec.strategy)


def weights_used(config: TrainConfig) -> str:
    """What the backbone started from, in words."""
    if config.weights:
        return str(config.weights)
    if getattr(config, "pretrained", False):
        return f"{config.backbone} pretrained (ImageNet)"
    return f"{config.backbone} from scratch"


class _Runner:
    def __init__(self, out, table, train, images, eval_images, options, grid, db, progress, echo):
        self.out, self.table, self.train, self.images, self.eval_images = out, table, train, images, eval_images
        self.options, self.grid, self.db, self.progress, self.echo = options, grid, db, progress, echo
        self.fingerprint = train.fingerprint()
        self.cache: tuple[str, object] | None = None  # (file key, ScoreSet) last used
        self.plain: dict = {}  # (noise, seed) -> a ScoreSet holding only the (noisy) labels
        self.planned: dict[str, set[str]] = {}  # scoring setting -> the methods the cells to do need

    # -- the cells
    def run(self, todo: list[Cell], result: SweepResult) -> None:
        for cell in todo:  # score each setting once, with every method its cells will need
            if cell.spec.scoring_methods:
                self.planned.setdefault(run_key(self.group(cell)), set()).update(cell.spec.scoring_methods)
        trained_seconds, trained_kept = 0.0, 0.0
        for position, cell in enumerate(todo, 1):
            try:
                row = self.run_cell(cell, result)
            except ReidPruneError as exc:
                from reidprune.train.loop import TrainingInterrupted

                if isinstance(exc, TrainingInterrupted):
                    raise
                result.failed.append(f"{cell.label()}: {exc}")
                self.echo(f"warning: {cell.label()} skipped: {exc}")
                continue
            result.trained += 1
            trained_seconds += row["cell_seconds"]
            trained_kept += row["kept"] * row["settings"]["retrain"]["epochs"]
            left = todo[position:]  # time left: seconds per image-epoch so far x image-epochs still to train
            eta = trained_seconds / trained_kept * sum(self._expected_kept(c) for c in left)
            self.echo(f"[{result.already_done + position}/{result.planned}] {cell.label()}: "
                      f"(rank-1 + mAP)/2 = {row['score']:.2f}, {row['kept']} images, {row['iterations']} iterations, "
                      f"{row['cell_seconds']:.0f} s; {len(left)} to do"
                      + (f", about {_duration(eta)} of retraining left" if left else ""))

    def _expected_kept(self, cell: Cell) -> float:
        return len(self.train) * (1.0 - cell.fraction) * self.options.cell_config(cell).epochs

    def run_cell(self, cell: Cell, result: SweepResult) -> dict:
        from reidprune.pipeline.retrain import retrain_and_evaluate
        from reidprune.pipeline.selecting import decide

        spec = cell.spec
        scores, scores_file = self.scores_for(cell, result)
        began = time.perf_counter()  # the cell's own time: selection, retraining, evaluation
        counts = {"relabelled": 0, "outlier": 0}
        if spec.base == BASELINE:
            labels, keep, removed = scores.labels, None, 0.0
        else:
            selection = decide(scores, select_options(cell, self.grid)).selection
            labels, keep, removed = selection.labels, selection.keep_mask, selection.fraction_removed
            counts = selection.counts()
        config = self.options.cell_config(cell)
        checkpoint = self.out / "running" / f"{cell.key()}.ckpt"
        metrics, _ = retrain_and_evaluate(self.images, labels, keep, self.table, self.eval_images, config,
                                          progress=self.progress, checkpoint=checkpoint,
                                          run_key=run_key([cell.settings(), self.db.setup()]))
        rank1, mAP = metrics.get("rank1"), metrics.get("mAP")
        score = (rank1 + mAP) / 2 if rank1 is not None and mAP is not None else metrics.get("top1")
        row = {**cell.settings(), "key": cell.key(), "fraction_removed": removed, "kept": metrics["train_images"],
               "relabelled": counts["relabelled"], "outliers": counts["outlier"],
               "iterations": metrics["iterations"], "rank1": rank1, "mAP": mAP, "mINP": metrics.get("mINP"),
               "score": score, "metrics": metrics, "train_seconds": metrics["seconds"],
               "cell_seconds": round(time.perf_counter() - began, 2), "scores_file": scores_file,
               "score_cost": {m: scores.methods[m].cost for m in self._cost_methods(spec) if m in scores.methods},
               "weights": weights_used(config), "settings": {"retrain": _config_dict(config), "cell": cell.settings()},
               "reidprune": __version__, "finished": now()}
        self.db.add_cell(row)
        checkpoint.unlink(missing_ok=True)
        return row

    @staticmethod
    def _cost_methods(spec: MethodSpec) -> tuple[str, ...]:
        return spec.scoring_methods + (("random",) if spec.base == "random" else ())

    # -- the scores
    def score_seed(self, cell: Cell) -> int:
        return cell.seed if self.grid.score_per_seed else self.options.score_config.seed

    def scores_for(self, cell: Cell, result: SweepResult):
        """(ScoreSet, cache file or None) for a cell: labels with the cell's noise, its method's scores."""
        from reidprune.scores.random import random_scores
        from reidprune.scores.store import MethodScores, ScoreSet

        spec = cell.spec
        needed = spec.scoring_methods
        if needed:
            group = self.group(cell)
            scores, file = self.cached_scores(group, needed, result)
        else:
            labels_key = (cell.noise, self.score_seed(cell))
            if labels_key not in self.plain:
                labels = self.noisy_labels(*labels_key)
                self.plain[labels_key] = ScoreSet.for_table(self.train.with_labels(labels))
            scores, file = self.plain[labels_key], None
        if spec.base == "random":  # random pruning: another subset for every retraining seed
            methods = {**scores.methods, "random": MethodScores("random", random_scores(len(self.train), cell.seed),
                                                                {"seed": cell.seed}, {"epochs": 0, "seconds": 0.0,
                                                                                      "runs": 0})}
            scores = dataclasses.replace(scores, methods=methods)
        return scores, file

    def group(self, cell: Cell) -> dict:
        """The scoring setting a cell's scores come from; settings its method ignores take the grid's first."""
        spec = cell.spec
        return {"noise": cell.noise, "score_seed": self.score_seed(cell),
                "score_epochs": cell.score_epochs if spec.uses_T else self.grid.score_epochs[0],
                "every": cell.every if spec.uses_every else self.grid.every[0],
                "models": spec.models}

    def noisy_labels(self, noise: float, seed: int) -> np.ndarray:
        from reidprune.data.noise import inject_symmetric_noise

        if noise == 0:
            return self.train.label.copy()
        labels, _ = inject_symmetric_noise(self.train.label, noise, self.train.num_classes, seed)
        return labels

    def cached_scores(self, group: dict, needed: tuple[str, ...], result: SweepResult):
        from reidprune.pipeline.scoring import ScoreOptions, score_dataset
        from reidprune.scores.store import ScoreSet

        config = self.options.score_config.replace(seed=group["score_seed"])
        key = run_key([self.fingerprint, group, _config_dict(config)])
        folder = self.out / "scores"
        file = folder / f"{key}.npz"
        if self.cache is not None and self.cache[0] == key and set(needed) <= set(self.cache[1].methods):
            return self.cache[1], str(file.relative_to(self.out))
        methods = set(needed) | self.planned.get(run_key(group), set())
        if file.is_file():
            scores = ScoreSet.load(file)
            if methods <= set(scores.methods):
                self.cache = (key, scores)
                return scores, str(file.relative_to(self.out))
            methods |= set(scores.methods)  # rescore into the same file, keeping what it had
        labels = self.noisy_labels(group["noise"], group["score_seed"])
        score_options = ScoreOptions(tuple(sorted(methods)), config, score_epochs=group["score_epochs"],
                                     every=group["every"], models=group["models"], aum_flags=False,
                                     seed=group["score_seed"])
        self.echo(f"scoring {len(self.train)} images with {', '.join(sorted(methods))} ({_describe(group)})")
        began = time.perf_counter()
        work = folder / f"{key}.work"
        scores = score_dataset(self.train.with_labels(labels), self.images, score_options, workdir=work,
                               progress=self.progress)
        seconds = time.perf_counter() - began
        scores.info.update({"sweep_group": group, "seconds": seconds})
        scores.save(file)
        shutil.rmtree(work, ignore_errors=True)
        self.db.add_scoring({"key": key, **{k: group[k] for k in ("noise", "score_seed", "score_epochs", "every",
                                                                   "models")},
                             "methods": sorted(scores.methods), "costs": {m: s.cost for m, s in scores.methods.items()},
                             "seconds": round(seconds, 2), "file": str(file.relative_to(self.out)),
                             "reidprune": __version__, "finished": now()})
        result.scored += 1
        self.cache = (key, scores)
        return scores, str(file.relative_to(self.out))


def _describe(group: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items())


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
