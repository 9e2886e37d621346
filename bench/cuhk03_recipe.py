"""Which part of the cpu preset's full training helps or hurts an ImageNet MobileNetV2 on CUHK03?

Each variant trains the ``cpu`` preset's full-training recipe (P x K 16 x 4, CE + label smoothing
+ batch-hard triplet, flip + pad + erasing, Adam 3.5e-4 with a 200-step warm-up) on CUHK03's
training split with its true labels, for ``--epochs`` epochs at ``--size``, then evaluates query
vs gallery (rank-1, mAP, mINP; cosine on the BNNeck features). ``before`` evaluates the ImageNet
features without training.

    python bench/cuhk03_recipe.py --epochs 2 --variants before raw_triplet normalized_triplet no_triplet classify

Resumable: each (variant, epochs) result is written to the JSON when it finishes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.data.images import load_images
from reidprune.data.layouts import load_dataset
from reidprune.models.reid import build_model
from reidprune.pipeline.retrain import EvalImages, evaluate_model
from reidprune.train.config import cpu_train_config
from reidprune.train.loop import fit

from cuhk03_noise import machine, shared_cuhk03  # same folder

HERE = Path(__file__).resolve().parent
VARIANTS = {  # changes to the cpu preset's full training (whose default is normalized_triplet)
    "before": {},
    "raw_triplet": {"triplet_normalize": False},
    "normalized_triplet": {"triplet_normalize": True},
    "no_triplet": {"triplet_weight": 0.0},
    "classify": {"mode": "classify"},  # shuffled batches, CE + LS only
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=shared_cuhk03())
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cuhk03_recipe.json")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--size", default="64x32", help="input HEIGHTxWIDTH")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    height, width = (int(v) for v in args.size.split("x"))
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results = report.setdefault("results", {})
    table = load_dataset(args.data, "market1501")
    train = table.split_table("train")
    images, _ = load_images(train, size=(height, width), progress=False)
    eval_images = EvalImages.load(table, (height, width), progress=False)
    for variant in args.variants:
        key = f"{variant}/{args.epochs}/{args.size}/{args.seed}"
        if key in results:
            continue
        config = cpu_train_config(height=height, width=width, epochs=args.epochs, milestones=(), seed=args.seed,
                                  **VARIANTS[variant])
        torch.manual_seed(args.seed)
        model = build_model(config.backbone, train.num_classes, pretrained=True)
        began = time.perf_counter()
        losses = [] if variant == "before" else fit(model, images, train.label, config, progress=False).losses
        metrics = evaluate_model(model, table, eval_images, config.replace(mode="reid"))
        results[key] = {"variant": variant, "epochs": 0 if variant == "before" else args.epochs,
                        "losses": [round(v, 3) for v in losses],
                        **{m: round(float(metrics[m]), 2) for m in ("rank1", "mAP", "mINP")},
                        "seconds": round(time.perf_counter() - began, 1)}
        report.update({"benchmark": "cuhk03: the cpu preset's full-training recipe, variant by variant",
                       "setting": f"ImageNet MobileNetV2, true labels, {args.size}, no lr drop",
                       "machine": machine(), "reidprune": __version__})
        write_json(args.out, report)
        print(key, json.dumps(results[key]), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
