"""The paper's Fig. 7 comparison in small: purification components vs AUM, no pruning.

On the synthetic world (10% mislabeled, 3% outliers by default; `--mislabel-rate` for more), one
scoring run gives our soft labels and AUM margins (two more runs give AUM's threshold flags);
then a model is retrained from scratch on: the noisy set as is (baseline), the set with labels
corrected, with outliers removed, with both (ours), and with AUM's flagged samples removed.

    python bench/purification.py --out bench/results/purification_synth.json
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "purification_synth.json")
    parser.add_argument("--mislabel-rate", type=float, default=0.10)
    parser.add_argument("--outlier-rate", type=float, default=0.03)
    parser.add_argument("--retrain-epochs", type=int, default=24)
    parser.add_argument("--delta", type=float, default=0.10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        world = SynthConfig(mislabel_rate=args.mislabel_rate, outlier_rate=args.outlier_rate, seed=args.seed)
        table = load_dataset(generate_world(Path(tmp) / "world", world, progress=False))
        train = table.split_table("train")
        config = cpu_quick_config(seed=args.seed)
        size = (config.height, config.width)
        images, _ = load_images(train, size=size, progress=not args.quiet)
        eval_images = EvalImages.load(table, size, progress=not args.quiet)
    scores = score_dataset(train, images, ScoreOptions(("entropy", "aum"), config), progress=not args.quiet)
    ours = decide(scores, SelectOptions(fraction=0.0, delta=args.delta))
    labels, everyone = train.label, np.ones(len(train), bool)
    corrected = np.where(ours.mislabeled & ~ours.outliers, ours.predicted, labels)
    aum_flags = scores["aum"].extras["mislabeled"].astype(bool)
    variants = {
        "baseline (noisy, as is)": (labels, everyone),
        "ours: only label correction": (np.where(ours.mislabeled, ours.predicted, labels), everyone),
        "ours: only outlier removal": (labels, ~ours.outliers),
        "ours: both": (corrected, ~ours.outliers),
        "AUM: flagged samples removed": (labels, ~aum_flags),
    }
    results = {}
    for name, (train_labels, keep) in variants.items():
        metrics, _ = retrain_and_evaluate(images, train_labels, keep, table, eval_images,
                                          config.replace(epochs=args.retrain_epochs), progress=not args.quiet)
        results[name] = {"train_images": int(keep.sum()), "rank1": round(metrics["rank1"], 2),
                         "mAP": round(metrics["mAP"], 2), "score": round((metrics["rank1"] + metrics["mAP"]) / 2, 2)}
        if not args.quiet:
            print(f"{name:<32} {results[name]['score']:.2f}", file=sys.stderr)
    report = {
        "benchmark": "purification components vs AUM (paper Fig. 7), retrained without pruning",
        "command": "python bench/purification.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "world": {"train_images": len(train), "identities": train.num_classes, "mislabel_rate": args.mislabel_rate,
                  "outlier_rate": args.outlier_rate, "seed": args.seed},
        "setting": {"backbone": config.backbone, "input": f"{config.height}x{config.width}", "score_epochs": 12,
                    "retrain_epochs": args.retrain_epochs, "delta": args.delta, "lr": config.lr},
        "flags": {"ours_mislabeled": int(ours.mislabeled.sum()), "ours_outliers": int(ours.outliers.sum()),
                  "aum_flagged": int(aum_flags.sum())},
        "results": results,
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "reidprune": __version__, "seconds_total": round(time.perf_counter() - began, 1),
    }
    write_json(args.out, report)
    print(json.dumps(report["results"], indent=2))


if __name__ == "__main__":
    main()
