"""Choose dynamic pruning's "easy" rule and ratio on one set, to report them on others (issue 27).

Trains the cpu preset (64x32, 12 epochs) on DATA unpruned ("full") and with each dynamic variant
("mean:0.7" = --dynamic-easy mean --dynamic-prune 0.7), paired by seed, and writes every run and the
paired summary to OUT (resumable: finished runs are kept). The variants go through the same
`train_model` as `reidprune train --dynamic-prune R --dynamic-easy RULE`.

    python bench/dynamic_pruning_design.py bench-work/cuhk03-4 --out bench/results/dynamic_pruning_design.json \\
        --variants full,mean:0.7,median:0.8 --seeds 0,1,2
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from scipy import stats

from reidprune.atomic import write_json
from reidprune.data.layouts import load_dataset
from reidprune.pipeline.loading import load_training_images
from reidprune.pipeline.retrain import EvalImages, evaluate_model, train_model
from reidprune.presets import config_from_choices
from reidprune.train.config import TrainChoices


def paired(runs: list[dict], variant: str) -> dict:
    """Mean difference to the unpruned run of the same seed, its 95% t-interval, iterations saved."""
    full = {r["seed"]: r for r in runs if r["variant"] == "full"}
    mine = [r for r in runs if r["variant"] == variant and r["seed"] in full]
    diffs = np.array([r["score"] - full[r["seed"]]["score"] for r in mine])
    saved = np.array([1 - r["iterations"] / full[r["seed"]]["iterations"] for r in mine])
    half = float(stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 \
        else float("nan")
    return {"variant": variant, "seeds": len(diffs), "mean_difference": round(float(diffs.mean()), 3),
            "interval_95": [round(float(diffs.mean()) - half, 3), round(float(diffs.mean()) + half, 3)],
            "iterations_saved": round(float(saved.mean()), 4)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default="full,mean:0.7,median:0.8")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args(argv)
    table = load_dataset(args.data, "market1501")
    config, _ = config_from_choices(TrainChoices(preset="cpu", size=(64, 32), epochs=12), table.layout,
                                    scoring=False)
    train, images, _ = load_training_images(table, (64, 32), False, False)
    eval_images = EvalImages.load(table, (64, 32), progress=False)
    runs = json.loads(args.out.read_text())["runs"] if args.out.is_file() else []
    variants = args.variants.split(",")
    for seed in (int(s) for s in args.seeds.split(",")):
        for variant in variants:
            if any(r["seed"] == seed and r["variant"] == variant for r in runs):
                continue
            rule, _, ratio = variant.partition(":")
            began = time.time()
            model, result = train_model(images, train.label, train.num_classes, config.replace(seed=seed),
                                        progress=False, dynamic=float(ratio or 0), dynamic_easy=rule
                                        if ratio else "mean")
            metrics = evaluate_model(model, table, eval_images, config)
            runs.append({"seed": seed, "variant": variant, "score": (metrics["rank1"] + metrics["mAP"]) / 2,
                         "iterations": result.iterations, "seconds": round(time.time() - began, 1)})
            print(runs[-1], flush=True)
            write_json(args.out, {"runs": runs})
    summary = {"dataset": str(table.root), "runs": runs,
               "paired": [paired(runs, v) for v in variants if v != "full"],
               "machine": {"cpu": platform.processor() or platform.machine()},
               "command": f"python bench/dynamic_pruning_design.py {args.data} --out {args.out} "
                          f"--variants {args.variants} --seeds {args.seeds}"}
    write_json(args.out, summary)
    print(json.dumps(summary["paired"], indent=1))


if __name__ == "__main__":
    main()
