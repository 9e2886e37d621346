"""How evenly each pruning method leaves the identities: images kept per identity after pruning.

Reads a sweep's cached scores file (``DIR/scores/*.npz``, written by ``reidprune sweep``) and, for every
method in it and every fraction, runs the sweep's own selection and counts the identities left with
fewer than 2 and fewer than 4 images; random pruning is averaged over the seeds.

    python bench/kept_identities.py bench/results/cuhk03_sweep_cpu20/scores/*.npz
        # -> bench/results/cuhk03_kept_identities.json
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.experiments.sweep import CLASS_BALANCE
from reidprune.scores.random import random_scores
from reidprune.select.prune import select

HERE = Path(__file__).resolve().parent


def coverage(importance: np.ndarray, labels: np.ndarray, fraction: float, class_balance: float) -> dict:
    """Identities left with no image, with < 2 and with < 4 images after pruning ``fraction``."""
    keep = select(importance, labels, fraction=fraction, class_balance=class_balance).keep_mask
    per_identity = np.bincount(labels[keep], minlength=labels.max() + 1)
    return {"none": int((per_identity == 0).sum()), "under_2": int((per_identity < 2).sum()),
            "under_4": int((per_identity < 4).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scores", type=Path, help="a sweep's cached scores file (DIR/scores/KEY.npz)")
    parser.add_argument("--fractions", default="0.2,0.4", help="fractions pruned (default 0.2,0.4)")
    parser.add_argument("--seeds", default="0,1,2", help="random pruning's seeds (default 0,1,2)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cuhk03_kept_identities.json")
    args = parser.parse_args()
    stored = np.load(args.scores, allow_pickle=True)
    labels = stored["labels"].astype(np.int64)
    methods = sorted(key.split("/")[0] for key in stored.files if key.endswith("/importance"))
    fractions = [float(f) for f in args.fractions.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    result = {"scores": args.scores.name, "images": len(labels), "identities": int(labels.max() + 1),
              "images_per_identity": {"min": int(np.bincount(labels).min()), "max": int(np.bincount(labels).max())},
              "machine": platform.platform(), "reidprune": __version__, "by_fraction": {}}
    for fraction in fractions:
        row = {m: coverage(stored[f"{m}/importance"], labels, fraction, CLASS_BALANCE.get(m, 0.0)) for m in methods}
        draws = [coverage(random_scores(len(labels), s), labels, fraction, 0.0) for s in seeds]
        row["random"] = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
        result["by_fraction"][str(fraction)] = row
        for method, counts in row.items():
            print(f"{fraction:.0%} pruned, {method:>10}: {counts}")
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
