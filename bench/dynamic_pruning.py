"""Dynamic pruning against the unpruned model, paired by seed (issue 27): iterations saved, accuracy.

The unpruned runs are a sweep's baseline cells (same preset, size, epochs and seed), the dynamic
runs `reidprune train --dynamic-prune R` into ``bench-work/dynamic/<set>_r<R>_s<seed>``:

    for s in 0 1 2 3; do reidprune train ../shared/data/towncentre --out bench-work/dynamic/towncentre_r0.7_s$s \\
        --layout market1501 --preset cpu --size 64x32 --epochs 12 --seed $s --dynamic-prune 0.7 -q; done
    python bench/dynamic_pruning.py --sweep bench/results/towncentre_strategies/sweep.sqlite \\
        --runs 'bench-work/dynamic/towncentre_r0.7_s*' --out bench/results/dynamic_pruning_towncentre.json
"""
from __future__ import annotations

import argparse
import glob
import json
import platform
from pathlib import Path

import numpy as np
from scipy import stats

from reidprune.atomic import write_json
from reidprune.experiments.db import SweepDB


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", type=Path, required=True, help="sweep.sqlite with the unpruned ('none') cells")
    parser.add_argument("--runs", required=True, help="glob of the dynamic runs' output folders")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    with SweepDB(args.sweep) as db:
        full = {r["seed"]: r for r in db.cells() if r["method"] == "none" and r["noise"] == 0}
    pairs = []
    for folder in sorted(glob.glob(args.runs)):
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
        seed = metrics["config"]["seed"]
        if seed in full:
            score = (metrics["rank1"] + metrics["mAP"]) / 2
            pairs.append({"seed": seed, "dynamic": metrics["dynamic"],
                          "easy": metrics.get("dynamic_easy") or "mean", "score": round(score, 3),
                          "full_score": full[seed]["score"], "iterations": metrics["iterations"],
                          "full_iterations": full[seed]["iterations"]})
    diffs = np.array([p["score"] - p["full_score"] for p in pairs])
    saved = np.array([1 - p["iterations"] / p["full_iterations"] for p in pairs])
    half = float(stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else None
    summary = {"pairs": pairs, "mean_difference": round(float(diffs.mean()), 3),
               "interval_95": None if half is None else [round(float(diffs.mean()) - half, 3),
                                                         round(float(diffs.mean()) + half, 3)],
               "iterations_saved": round(float(saved.mean()), 4),
               "machine": {"cpu": platform.processor() or platform.machine()}, "command": " ".join(
                   ["python bench/dynamic_pruning.py", "--sweep", str(args.sweep), "--runs", repr(args.runs),
                    "--out", str(args.out)])}
    write_json(args.out, summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "pairs"}, indent=1))
    for p in pairs:
        print(p)


if __name__ == "__main__":
    main()
