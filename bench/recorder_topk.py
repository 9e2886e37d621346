"""Top-k recorder against the exact recorder on one training run (both see the same logits).

A real SGD training of a linear softmax classifier on Gaussian classes (groups of 4 similar
classes, 10% wrong labels, 3% pure-noise samples, fresh feature noise at every visit as
augmentation); every step's logits go to the exact ``LogitRecorder`` and to one
``TopKLogitRecorder`` per k. Reported per k: Spearman correlation of the entropy scores,
agreement of the mislabel flags (argmax != label) and of the outlier flags
(max score <= delta x chance), the largest max-score error, and the state's memory.

    nice -n 19 python bench/recorder_topk.py            # -> bench/results/recorder_topk.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.dynamics.topk import TopKLogitRecorder, topk_memory_bytes
from reidprune.scores.entropy import entropy_scores, max_scores, predicted_labels, soft_labels, \
    sparse_soft_label_stats

HERE = Path(__file__).resolve().parent


def train_and_record(recorders, num_samples, num_classes, dim, epochs, lr, seed):
    """The training run; returns the labels trained on and seconds spent in each recorder."""
    generator = torch.Generator().manual_seed(seed)
    groups = torch.randn(num_classes // 4, dim, generator=generator) * 2
    centres = groups.repeat_interleave(4, 0) + torch.randn(num_classes, dim, generator=generator)
    truth = torch.randint(0, num_classes, (num_samples,), generator=generator)
    features = centres[truth] + 1.2 * torch.randn(num_samples, dim, generator=generator)
    outliers = torch.rand(num_samples, generator=generator) < 0.03
    features[outliers] = 3 * torch.randn(int(outliers.sum()), dim, generator=generator)
    labels = torch.where(torch.rand(num_samples, generator=generator) < 0.1,
                         torch.randint(0, num_classes, (num_samples,), generator=generator), truth)
    model = torch.nn.Linear(dim, num_classes)
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    seconds = [0.0] * len(recorders)
    for _ in range(epochs):
        order = torch.randperm(num_samples, generator=generator)
        for start in range(0, num_samples, 64):
            ids = order[start:start + 64]
            logits = model(features[ids] + 0.5 * torch.randn(len(ids), dim, generator=generator))
            loss = torch.nn.functional.cross_entropy(logits, labels[ids])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            for i, recorder in enumerate(recorders):
                began = time.process_time()
                recorder.update(ids, logits, labels[ids])
                seconds[i] += time.process_time() - began
        for recorder in recorders:
            recorder.end_epoch()
    return labels.numpy(), seconds


def exact_stats(recorder: LogitRecorder, chunk: int = 4096):
    """Entropy, max score and argmax of the exact soft labels, in row chunks."""
    mean = recorder.mean_logits().double().numpy()
    out = [], [], []
    for start in range(0, len(mean), chunk):
        soft = soft_labels(mean[start:start + chunk])
        for target, values in zip(out, (entropy_scores(soft), max_scores(soft), predicted_labels(soft))):
            target.append(values)
    return [np.concatenate(values) for values in out]


def spearman(a, b) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=2_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, nargs="+", default=[0.05, 0.005],
                        help="one run per learning rate (the lower one leaves flat soft labels)")
    parser.add_argument("--k", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--delta-chance", type=float, default=2.0, help="outlier: max score <= this x 1/C")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "recorder_topk.json")
    args = parser.parse_args(argv)
    n, c = args.samples, args.classes
    runs = []
    for lr in args.lr:
        exact = LogitRecorder(n, c)
        sparse = [TopKLogitRecorder(n, c, k) for k in args.k]
        labels, seconds = train_and_record([exact, *sparse], n, c, args.dim, args.epochs, lr, args.seed)
        entropy, top, predicted = exact_stats(exact)
        threshold = args.delta_chance / c
        flags, outliers = predicted != labels, top <= threshold
        run = {"lr": lr, "exact": {"memory_bytes": n * c * 4 + n * 8, "update_cpu_seconds": round(seconds[0], 2),
                                   "mislabel_flag_rate": float(flags.mean()), "outlier_rate": float(outliers.mean()),
                                   "mean_max_score": float(top.mean()),
                                   "mean_entropy_bits": float(entropy.mean())}, "topk": []}
        for k, recorder, spent in zip(args.k, sparse, seconds[1:]):
            summary = recorder.summary()
            e, t, p = sparse_soft_label_stats(summary.index, summary.mean, summary.rest_logit, c,
                                              summary.rest_spread)
            run["topk"].append({
                "k": k, "memory_bytes": topk_memory_bytes(n, k), "update_cpu_seconds": round(spent, 2),
                "entropy_spearman": spearman(e, entropy),
                "entropy_mean_abs_error_bits": float(np.abs(e - entropy).mean()),
                "mislabel_flag_agreement": float(((p != labels) == flags).mean()),
                "argmax_agreement": float((p == predicted).mean()),
                "outlier_flag_agreement": float(((t <= threshold) == outliers).mean()),
                "max_score_max_abs_error": float(np.abs(t - top).max()),
            })
        runs.append(run)
        print(json.dumps(run, indent=2), flush=True)
    result = {"benchmark": "recorder_topk", "version": __version__,
              "shape": {"samples": n, "classes": c, "dim": args.dim, "epochs": args.epochs},
              "delta_chance": args.delta_chance, "runs": runs,
              "memory_formula": "exact: N x C x 4 + N x 8 bytes; top-k: N x (8 k + 40) bytes",
              "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                          "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                          "cpu_count": os.cpu_count(), "note": "CPU shared with other jobs"},
              "command": " ".join(["python", "bench/recorder_topk.py", *(argv if argv is not None else sys.argv[1:])])}
    write_json(args.out, result)


if __name__ == "__main__":
    main()
