"""Does cleaning pay? Retrain on CUHK03 with symmetric label noise: noisy vs purified by us vs cleaned by AUM.

For each noise ratio the training split gets the same seeded noise as bench/cuhk03_pretrained.py,
whose scoring cells (``ours``: the paper's soft labels with the adaptive stop; ``aum``: AUM with
threshold samples) are reused from ``--work`` or computed here. Then, for every seed, one
pretrained model is trained and evaluated (query vs gallery: rank-1, mAP, mINP) on

* ``noisy``: every image with its noisy label;
* ``ours_purified``: the paper's purification, no pruning: outliers (max soft label <= the cpu
  preset's delta) removed, every other image relabelled with the argmax of its soft label;
* ``aum_cleaned``: the images AUM flags as mislabeled removed;
* ``clean`` (optional, ``--conditions ... clean``): the true labels, an upper bound.

Retraining recipe: the cpu preset's full training (ImageNet MobileNetV2, P x K 16 x 4, CE + LS +
triplet, flip + pad + erasing, Adam 3.5e-4, warm-up, lr x0.1 at 60% of the epochs), shortened
for a 2-core CPU: ``--epochs`` (default 10) at ``--size`` (default 64x32). Resumable: each
(noise, condition, seed) result is written to the JSON as soon as it finishes.

    python bench/cuhk03_retrain.py --noise 0.2 0.5 --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.data.images import load_images
from reidprune.data.layouts import load_dataset
from reidprune.data.noise import inject_symmetric_noise
from reidprune.data.cache import image_rows
from reidprune.pipeline.retrain import EvalImages, evaluate_model, train_model
from reidprune.scores.entropy import soft_labels
from reidprune.select.purify import find_outliers
from reidprune.presets import PRESETS
from reidprune.train.config import cpu_train_config

from cuhk03_noise import machine  # same folder
from cuhk03_pretrained import add_cell_arguments, cell_scores

HERE = Path(__file__).resolve().parent
CONDITIONS = ("noisy", "ours_purified", "aum_cleaned", "clean")
METRICS = ("rank1", "mAP", "mINP")


def training_set(condition: str, args, train, noisy_labels, workdir: Path, scoring_images) -> tuple[np.ndarray, np.ndarray]:
    """(labels, keep) of one condition; the scoring cells are reused from ``workdir`` when saved."""
    everything = np.ones(len(train), dtype=bool)
    if condition == "noisy":
        return noisy_labels, everything
    if condition == "clean":
        return train.label, everything
    cell = "ours" if condition == "ours_purified" else "aum"
    scores = cell_scores(cell, args, train, scoring_images(), noisy_labels, workdir / cell, progress=not args.quiet)
    if cell == "aum":
        return noisy_labels, ~scores["aum"].extras["mislabeled"].astype(bool)
    soft = soft_labels(scores["entropy"].extras["mean_logits"].astype(np.float64))
    return soft.argmax(1), ~find_outliers(soft, PRESETS["cpu"].delta)


def summarise(runs: dict) -> dict:
    """Mean and sample std (ddof 1, as the sweeps) over seeds of each metric, per condition."""
    out = {}
    for condition, by_seed in runs.items():
        values = {m: [r[m] for r in by_seed.values()] for m in METRICS}
        out[condition] = {"seeds": len(by_seed),
                          **{m: {"mean": round(float(np.mean(v)), 2),
                                 "std": round(float(np.std(v, ddof=1)), 2) if len(v) > 1 else 0.0}
                             for m, v in values.items()}}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cell_arguments(parser)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cuhk03_retrain.json")
    parser.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS[:3]))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="retraining seeds")
    parser.add_argument("--epochs", type=int, default=10, help="retraining epochs")
    parser.add_argument("--size", default="64x32", help="retraining input HEIGHTxWIDTH")
    parser.add_argument("--mode", choices=("reid", "classify"), default="reid",
                        help="reid: P x K batches, CE + LS + triplet (FastReID); classify: shuffled batches, CE + LS "
                             "(learns faster in a few CPU epochs: see the README)")
    args = parser.parse_args(argv)

    height, width = (int(v) for v in args.size.split("x"))
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    report.setdefault("runs", {})
    table = load_dataset(args.data, "market1501")
    train = table.split_table("train")
    images, _ = load_images(train, size=(height, width), progress=not args.quiet)
    eval_images = EvalImages.load(table, (height, width), progress=not args.quiet)
    cache: dict = {}

    def scoring_images():  # decoded only when a scoring cell has to run
        if "images" not in cache:
            cache["images"], _ = load_images(train, size=(128, 64), progress=not args.quiet)
        return cache["images"]

    milestone = max(1, round(0.6 * args.epochs))
    for noise in args.noise:
        key = f"{noise:.2f}"
        noisy_labels, _ = inject_symmetric_noise(train.label, noise, train.num_classes, args.seed)
        runs = report["runs"].setdefault(key, {})
        sets = {c: training_set(c, args, train, noisy_labels, args.work / key, scoring_images) for c in args.conditions}
        for seed in args.seeds:  # seed-major: a stopped run leaves every condition with as many seeds
            for condition, (labels, keep) in sets.items():
                if str(seed) in runs.get(condition, {}):
                    continue
                print(f"noise {key}: {condition}, seed {seed}", file=sys.stderr, flush=True)
                config = cpu_train_config(seed=seed, epochs=args.epochs, milestones=(milestone,), height=height,
                                          width=width, device=args.device, mode=args.mode)
                began = time.perf_counter()
                model, _ = train_model(image_rows(images, np.flatnonzero(keep)), labels[keep], train.num_classes,
                                       config, progress=not args.quiet,
                                       checkpoint=args.work / key / f"retrain-{args.mode}-{condition}-{seed}.ckpt",
                                       run_key=f"{key}/{condition}/{seed}/{args.epochs}/{args.size}/{args.mode}")
                metrics = evaluate_model(model, table, eval_images, config.replace(mode="reid"))  # query vs gallery
                correct = float((labels[keep] == train.label[keep]).mean())
                runs.setdefault(condition, {})[str(seed)] = {
                    **{m: round(float(metrics[m]), 2) for m in METRICS},
                    "train_images": int(keep.sum()), "label_accuracy": round(correct, 4),
                    "seconds": round(time.perf_counter() - began, 1)}
                report.update({
                    "benchmark": "cuhk03 + symmetric label noise: retraining on noisy / purified / AUM-cleaned labels",
                    "command": "python bench/cuhk03_retrain.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "setting": {"retrain": f"cpu preset training, {args.epochs} epochs (lr x0.1 at {milestone}), "
                                           f"{args.size}, ImageNet MobileNetV2, {args.mode} mode",
                                "scoring": "bench/cuhk03_pretrained.py cells 'ours' and 'aum' (128x64)",
                                "delta": PRESETS["cpu"].delta, "noise_seed": args.seed},
                    "summary": {k: summarise(v) for k, v in report["runs"].items()},
                    "machine": machine(), "reidprune": __version__})
                write_json(args.out, report)
                print(json.dumps(runs[condition][str(seed)]), flush=True)


if __name__ == "__main__":
    main()
