"""The paper's Fig. 4 / Fig. 8 experiment in small: prune by each method, retrain, evaluate.

On a synthetic world (default) or any dataset folder: score the training split once with every
pruning method (one shared main run + CE-only runs for EL2N), then for each fraction prune the
lowest-scored images, retrain from scratch and report (rank-1 + mAP) / 2. Our method is run
twice: pruning only, and with purification (outliers removed, mislabeled relabelled), as in
Fig. 8. Random pruning and no pruning are the baselines.

    python bench/pruning_curves.py --out bench/results/pruning_curves_synth.json

writes the JSON and a PNG beside it (``--plot-only FILE.json`` redraws the PNG of a saved run).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.data.images import load_images
from reidprune.data.layouts import load_dataset
from reidprune.data.synth import SynthConfig, generate_world
from reidprune.pipeline.retrain import EvalImages, retrain_and_evaluate
from reidprune.pipeline.scoring import ScoreOptions, score_dataset
from reidprune.pipeline.selecting import SelectOptions, decide
from reidprune.train.config import cpu_quick_config

HERE = Path(__file__).resolve().parent
PRUNERS = ("random", "entropy", "el2n", "forgetting", "prototypes", "ma_loss", "aum")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=None, help="dataset folder [default: a synthetic world]")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pruning_curves_synth.json")
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4])
    parser.add_argument("--seeds", type=int, default=1, help="retraining seeds per point (paper: 4)")
    parser.add_argument("--score-epochs", type=int, default=12)
    parser.add_argument("--retrain-epochs", type=int, default=24)
    parser.add_argument("--delta", type=float, default=0.10)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--plot-only", type=Path, default=None, help="redraw the PNG of a saved JSON and stop")
    args = parser.parse_args(argv)
    if args.plot_only:
        print(plot(json.loads(args.plot_only.read_text()), args.plot_only.with_suffix(".png")))
        return
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or generate_world(Path(tmp) / "world", SynthConfig(), progress=False)
        report = run(data, args)
    report["seconds_total"] = round(time.perf_counter() - began, 1)
    report["command"] = "python bench/pruning_curves.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_json(args.out, report)
    plot(report, args.out.with_suffix(".png"))
    print(json.dumps(report["summary"], indent=2))


def plot(report: dict, png: Path) -> Path:
    """The Fig. 4 / Fig. 8 style figure of a report's points."""
    from reidprune.report.curves import pruning_curve

    points = {name: [tuple(p) for p in pts] for name, pts in report["points"].items()}
    setting = report["setting"]
    title = f"{report['train_images']} images, {setting['backbone']} from scratch, {setting['seeds']} seed(s)"
    return pruning_curve(points, png, title=title)


def run(data: Path, args) -> dict:
    table = load_dataset(data)
    train = table.split_table("train")
    config = cpu_quick_config(epochs=args.score_epochs)
    size = (config.height, config.width)
    images, _ = load_images(train, size=size, progress=not args.quiet)
    eval_images = EvalImages.load(table, size, progress=not args.quiet)
    scores = score_dataset(train, images, ScoreOptions(PRUNERS, config, aum_flags=False), progress=not args.quiet)
    retrain = config.replace(epochs=args.retrain_epochs)

    def evaluate(labels, keep, seed):
        metrics, _ = retrain_and_evaluate(images, labels, keep, table, eval_images, retrain.replace(seed=seed),
                                          progress=not args.quiet)
        return metrics

    seeds = range(args.seeds)
    points: dict[str, list] = {"no pruning": [[0.0, *_mean_std([evaluate(train.label, None, s) for s in seeds])]]}
    variants = [(name, name, False) for name in PRUNERS] + [("entropy + purification", "entropy", True)]
    for label, method, purify in variants:
        points[label] = []
        for fraction in args.fractions:
            decision = decide(scores, SelectOptions(method=method, fraction=fraction, purify=purify, delta=args.delta))
            sel = decision.selection
            runs = [evaluate(sel.labels, sel.keep_mask, s) for s in seeds]
            points[label].append([round(sel.fraction_removed, 4), *_mean_std(runs)])
            if not args.quiet:
                print(f"{label:<24} {fraction:.2f}: {points[label][-1][1]:.2f}", file=sys.stderr)
    summary = {name: {f"{p[0]:.2f}": round(p[1], 2) for p in pts} for name, pts in points.items()}
    return {
        "benchmark": "pruning curves: (rank-1 + mAP)/2 after retraining on the pruned set",
        "dataset": str(data) if data else "synthetic world (SynthConfig defaults)",
        "train_images": len(train), "identities": train.num_classes,
        "setting": {"backbone": config.backbone, "input": f"{config.height}x{config.width}",
                    "score_epochs": args.score_epochs, "retrain_epochs": args.retrain_epochs,
                    "seeds": args.seeds, "delta": args.delta, "lr": config.lr},
        "points": points, "summary": summary,
        "score_cost": {name: m.cost for name, m in scores.methods.items()},
        "machine": {"platform": platform.platform(), "cpus": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "reidprune": __version__,
    }


def _mean_std(runs: list[dict]) -> tuple[float, float]:
    values = np.array([(m["rank1"] + m["mAP"]) / 2 for m in runs])
    return float(values.mean()), float(values.std())


if __name__ == "__main__":
    main()
