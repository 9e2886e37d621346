"""`make demo`: synthetic world -> score -> purify + prune -> retrain three ways -> one table.

Every number in the table is computed in the run: detection quality against the world's
ground truth, and rank-1 / mAP of models retrained on the full, the pruned + purified and a
random subset of the same size.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from reidprune.data.images import load_images
from reidprune.data.layouts import load_dataset
from reidprune.data.synth import MISLABELED, SynthConfig, generate_world, read_ground_truth
from reidprune.pipeline.retrain import EvalImages, retrain_and_evaluate
from reidprune.data.noise import probe_count
from reidprune.pipeline.options import ScoreRequest
from reidprune.pipeline.scoring import score_dataset
from reidprune.select.calibration import MIN_PROBES
from reidprune.pipeline.selecting import SelectOptions, decide, export_decision
from reidprune.report.gallery import entropy_histogram, flagged_gallery, identity_strips
from reidprune.select.defaults import PAPER_DELTA
from reidprune.train.config import cpu_quick_config


@dataclass(frozen=True)
class DemoOptions:
    world: SynthConfig = field(default_factory=SynthConfig)
    fraction: float = 0.3
    score_epochs: int = 12
    retrain_epochs: int = 24
    delta: float | None = None  # None: measured by the scoring run's probes
    seed: int = 0


@dataclass
class DemoResult:
    out: Path
    detection: dict
    retrain: dict  # name -> metrics
    counts: dict
    seconds: dict
    warnings: list[str]


def run_demo(out: str | Path, options: DemoOptions = DemoOptions(), progress: bool = True,
             echo: Callable[[str], None] = print) -> DemoResult:
    out = Path(out)
    timings: dict[str, float] = {}
    began = time.perf_counter()
    world = out / "world"
    echo(f"[1/5] generating a synthetic world in {world}")
    generate_world(world, options.world, progress=progress, overwrite=True)
    table = load_dataset(world, "market1501")
    train = table.split_table("train")
    config = cpu_quick_config(epochs=options.score_epochs, seed=options.seed)
    size = (config.height, config.width)
    images, _ = load_images(train, size=size, progress=progress)
    timings["generate"] = time.perf_counter() - began

    echo(f"[2/5] scoring {len(train)} images ({options.score_epochs} epochs, small CNN, CPU ok)")
    t = time.perf_counter()
    request = ScoreRequest(methods=("entropy",))
    scores = score_dataset(train, images, request.resolve(config, options.seed, probe_count(train.label), MIN_PROBES),
                           progress=progress)
    scores.save(out / "scores.npz")
    timings["score"] = time.perf_counter() - t

    echo(f"[3/5] purifying and pruning {options.fraction:.0%}")
    select_options = SelectOptions(fraction=options.fraction, delta=options.delta, seed=options.seed)
    decision = decide(scores, select_options)
    export_decision(out, train, scores, decision, select_options, eval_table=table)
    detection = detection_quality(train, decision, read_ground_truth(world))
    manifest = out / "manifest.csv"
    flagged_gallery(manifest, world, out / "flagged.png")
    identity_strips(manifest, world, out / "identities.png", seed=options.seed)
    applied = decision.threshold if decision.threshold is not None else PAPER_DELTA
    entropy_histogram(manifest, out / "scores.png", delta=applied)

    echo("[4/5] retraining on the full, the pruned and a random subset of the same size")
    eval_images = EvalImages.load(table, size, progress=progress)
    retrain_config = config.replace(epochs=options.retrain_epochs)
    keep = decision.selection.keep_mask
    random_keep = np.zeros(len(train), bool)
    random_keep[np.random.default_rng(options.seed).choice(len(train), int(keep.sum()), replace=False)] = True
    runs = {"full": (train.label, None), "pruned + purified": (decision.selection.labels, keep),
            "random pruned": (train.label, random_keep)}
    retrain, t = {}, time.perf_counter()
    for name, (labels, mask) in runs.items():
        retrain[name], _ = retrain_and_evaluate(images, labels, mask, table, eval_images, retrain_config,
                                                progress=progress)
        echo(f"      {name}: rank-1 {retrain[name]['rank1']:.1f}  mAP {retrain[name]['mAP']:.1f}")
    timings["retrain"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - began
    echo("[5/5] done")
    return DemoResult(out, detection, retrain, decision.selection.counts(), timings, decision.warnings)


def detection_quality(train, decision, truth: dict) -> dict:
    """Precision / recall of mislabel and outlier flags, and correction accuracy, vs ground truth."""
    rel = train.relative_paths()
    row = {p: i for i, p in enumerate(truth["path"])}
    order = np.array([row[p] for p in rel])
    kind, true_pid = truth["kind"][order], truth["true_pid"][order]
    true_mislabeled = kind == MISLABELED
    true_outlier = np.isin(kind, ["two_people", "occlusion", "truncation"])
    flagged_mis = decision.mislabeled & ~decision.outliers
    caught = flagged_mis & true_mislabeled
    predicted_pid = train.classes[np.maximum(decision.predicted, 0)]
    return {
        "mislabel_precision": _ratio(caught.sum(), flagged_mis.sum()),
        "mislabel_recall": _ratio(caught.sum(), true_mislabeled.sum()),
        "correction_accuracy": _ratio((caught & (predicted_pid == true_pid)).sum(), caught.sum()),
        "outlier_precision": _ratio((decision.outliers & true_outlier).sum(), decision.outliers.sum()),
        "outlier_recall": _ratio((decision.outliers & true_outlier).sum(), true_outlier.sum()),
        "true_mislabeled": int(true_mislabeled.sum()), "true_outliers": int(true_outlier.sum()),
        "flagged_mislabeled": int(flagged_mis.sum()), "flagged_outliers": int(decision.outliers.sum()),
    }


def _ratio(a, b) -> float:
    return float(a) / float(b) if b else float("nan")


def format_table(result: DemoResult) -> str:
    d, c = result.detection, result.counts
    total = sum(c.values())
    lines = [
        "",
        "reidprune demo: synthetic world, our method (entropy of averaged-logit soft labels)",
        f"{'quantity':<34}{'value':>12}",
        f"{'mislabel precision':<34}{d['mislabel_precision']:>12.3f}",
        f"{'mislabel recall':<34}{d['mislabel_recall']:>12.3f}",
        f"{'correction accuracy (id == true)':<34}{d['correction_accuracy']:>12.3f}",
        f"{'outlier precision':<34}{d['outlier_precision']:>12.3f}",
        f"{'outlier recall':<34}{d['outlier_recall']:>12.3f}",
        f"{'fraction pruned (incl. outliers)':<34}{(c['pruned'] + c['outlier']) / total:>12.3f}",
        f"{'kept / relabelled / pruned / outlier':<36}"
        f"{c['kept']:>5} / {c['relabelled']} / {c['pruned']} / {c['outlier']}",
        "",
        f"{'retrained on':<22}{'images':>8}{'rank-1':>9}{'mAP':>9}{'mINP':>9}{'seconds':>9}",
    ]
    for name, m in result.retrain.items():
        lines.append(f"{name:<22}{m['train_images']:>8}{m['rank1']:>9.1f}{m['mAP']:>9.1f}{m['mINP']:>9.1f}"
                     f"{m['seconds']:>9.1f}")
    lines += ["", f"outputs in {result.out}/: world/ (dataset + ground_truth.csv), scores.npz, lists/ "
                  "(fpath_list.npy, Ranking_list.npy, Mislabeled_outlier_samples.pickle), manifest.csv, "
                  "selection.json, flagged.png / identities.png / scores.png (pictures of what was flagged)",
              f"time: {result.seconds['total']:.0f} s (scoring {result.seconds['score']:.0f} s, "
              f"retraining {result.seconds['retrain']:.0f} s)"]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)
