"""The paper's logit-accumulation ablations (Fig. 10/11, Fig. 15) in one training run.

Several recorders ride on the same run, each with its own epoch window, so the comparison costs
one training: accumulating every 1, 2, 4, 6 epochs or only the last of T, and soft labels taken
after T = 2, 4, 8, 12, 20, 30 epochs. For each, mislabel detection (argmax != label) and
correction accuracy on ../shared/data/cuhk03 with 20% symmetric label noise.

    python bench/accumulation_ablation.py --out bench/results/accumulation_ablation.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.data.images import load_images
from reidprune.data.layouts import load_dataset
from reidprune.data.noise import inject_symmetric_noise
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.models.reid import build_model
from reidprune.train.augment import AugmentConfig
from reidprune.train.config import paper_scoring_config
from reidprune.train.loop import fit

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cuhk03"


def quality(recorder: LogitRecorder, noisy: np.ndarray, flipped: np.ndarray, true: np.ndarray) -> dict:
    """Detection quality over the samples the window recorded (a single P x K epoch misses a few)."""
    visited = recorder.counts.numpy() > 0
    predicted = recorder.sums.argmax(1).numpy()  # argmax of the mean = argmax of the sum
    noisy, flipped, true, predicted = noisy[visited], flipped[visited], true[visited], predicted[visited]
    flagged = predicted != noisy
    hit = flagged & flipped
    precision = hit.sum() / max(1, flagged.sum())
    recall = hit.sum() / max(1, flipped.sum())
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(float(precision), 4), "recall": round(float(recall), 4), "f1": round(float(f1), 4),
            "correction_accuracy": round(float((predicted[hit] == true[hit]).mean()), 4) if hit.any() else None,
            "mean_visits": round(float(recorder.counts.float().mean()), 2), "samples_recorded": int(visited.sum())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "accumulation_ablation.json")
    parser.add_argument("--noise", type=float, default=0.20)
    parser.add_argument("--epochs", type=int, default=30, help="length of the one run")
    parser.add_argument("--T", type=int, default=12, help="T of the accumulation-frequency ablation")
    parser.add_argument("--lr", type=float, default=3.5e-4)
    parser.add_argument("--backbone", default="small")
    parser.add_argument("--size", default="64x32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    height, width = (int(v) for v in args.size.split("x"))
    train = load_dataset(args.data, "market1501").split_table("train")
    noisy, flipped = inject_symmetric_noise(train.label, args.noise, train.num_classes, args.seed)
    images, _ = load_images(train, size=(height, width), progress=not args.quiet)
    n, c = len(train), train.num_classes
    frequency = {f"every {k}": LogitRecorder(n, c, every=k, stop=args.T) for k in (1, 2, 4, 6)}
    frequency[f"only epoch {args.T}"] = LogitRecorder(n, c, every=args.T, stop=args.T)
    horizon = {f"T={t}": LogitRecorder(n, c, stop=t) for t in (2, 4, 8, 12, 20, 30) if t <= args.epochs}
    config = paper_scoring_config(backbone=args.backbone, height=height, width=width, epochs=args.epochs,
                                  lr=args.lr, seed=args.seed, augment=AugmentConfig(pad=max(1, round(10 * height / 256))))
    torch.manual_seed(config.seed)
    model = build_model(config.backbone, c)
    result = fit(model, images, noisy, config, hooks=[*frequency.values(), *horizon.values()],
                 progress=not args.quiet)
    report = {
        "benchmark": "logit accumulation ablations (paper Fig. 10/11 and Fig. 15), one shared run",
        "command": "python bench/accumulation_ablation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "dataset": {"train_images": n, "identities": c, "noise_rate": args.noise, "noisy_labels": int(flipped.sum())},
        "setting": {"backbone": args.backbone, "input": f"{height}x{width}", "pretrained": False, "lr": args.lr,
                    "run_epochs": args.epochs, "T": args.T, "loss": "CE (label smoothing 0.1) + batch-hard triplet"},
        "accumulation_frequency": {k: quality(r, noisy, flipped, train.label) for k, r in frequency.items()},
        "score_epochs": {k: quality(r, noisy, flipped, train.label) for k, r in horizon.items()},
        "training_seconds": round(result.seconds, 1),
        "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "reidprune": __version__, "seconds_total": round(time.perf_counter() - began, 1),
    }
    write_json(args.out, report)
    print(json.dumps({k: report[k] for k in ("accumulation_frequency", "score_epochs")}, indent=2))


if __name__ == "__main__":
    main()
