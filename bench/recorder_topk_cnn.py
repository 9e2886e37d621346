"""Top-k recorder against the exact recorder on a real training of the small CNN.

A synthetic world (one random 32x16 prototype per identity, per-image pixel noise, 20% of the
labels replaced by random ones) trained from scratch with the ``small`` preset; the exact
``LogitRecorder`` and one ``TopKLogitRecorder`` per k are hooks of the same ``fit`` (they see
the same logits and the labels). Reported per k: Spearman correlation of the entropy scores,
agreement of the mislabel flags (argmax != label), max-score error (max, 99th percentile, mean).

    nice -n 19 python bench/recorder_topk_cnn.py     # -> bench/results/recorder_topk_cnn.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.dynamics.topk import TopKLogitRecorder, topk_memory_bytes
from reidprune.models.reid import build_model
from reidprune.scores.entropy import entropy_scores, max_scores, predicted_labels, sparse_soft_label_stats
from reidprune.train.config import cpu_quick_config
from reidprune.train.loop import fit

HERE = Path(__file__).resolve().parent


def world(identities: int, per_identity: int, noise: float, seed: int):
    """uint8 images (N x 3 x 32 x 16), noisy labels and true labels."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.randint(0, 256, (identities, 3, 32, 16), generator=generator, dtype=torch.uint8)
    truth = np.repeat(np.arange(identities), per_identity)
    pixels = torch.randint(0, 80, (len(truth), 3, 32, 16), generator=generator, dtype=torch.uint8)
    images = (prototypes[truth].to(torch.int16) * 3 // 4 + pixels).clamp(0, 255).to(torch.uint8)
    rng = np.random.default_rng(seed)
    labels = truth.copy()
    flip = rng.random(len(truth)) < noise
    labels[flip] = rng.integers(0, identities, int(flip.sum()))
    return images, labels, truth


def spearman(a, b) -> float:
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def run(identities: int, per_identity: int, epochs: int, ks, seed: int) -> dict:
    images, labels, truth = world(identities, per_identity, 0.2, seed)
    n = len(labels)
    exact = LogitRecorder(n, identities)
    sparse = [TopKLogitRecorder(n, identities, k) for k in ks]
    config = cpu_quick_config(epochs=epochs, batch_size=32, height=32, width=16, seed=seed)
    torch.manual_seed(seed)
    fit(build_model(config.backbone, identities), images, labels, config, hooks=[exact, *sparse], progress=False)
    soft = exact.soft_labels().double().numpy()
    entropy, top, flags = entropy_scores(soft), max_scores(soft), predicted_labels(soft) != labels
    out = {"identities": identities, "images": n, "epochs": epochs, "wrong_labels": float((labels != truth).mean()),
           "mislabel_flag_rate": float(flags.mean()), "median_max_score": float(np.median(top)), "topk": []}
    for k, recorder in zip(ks, sparse):
        s = recorder.summary()
        e, t, p = sparse_soft_label_stats(s.index, s.mean, s.rest_logit, identities, s.rest_spread)
        error = np.abs(t - top)
        out["topk"].append({"k": k, "memory_bytes": topk_memory_bytes(n, k), "entropy_spearman": spearman(e, entropy),
                            "mislabel_flag_agreement": float(((p != labels) == flags).mean()),
                            "max_score_error_max": float(error.max()),
                            "max_score_error_p99": float(np.percentile(error, 99)),
                            "max_score_error_mean": float(error.mean()), "noise_share": s.noise_share})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "recorder_topk_cnn.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs = []
    for identities, per_identity, epochs in ((40, 15, 12), (30, 12, 10)):
        runs.append(run(identities, per_identity, epochs, args.k, args.seed))
        print(json.dumps(runs[-1], indent=2), flush=True)
    write_json(args.out, {"benchmark": "recorder_topk_cnn", "version": __version__, "runs": runs,
                          "machine": {"platform": platform.platform(), "torch": torch.__version__,
                                      "torch_threads": 1, "note": "CPU shared with other jobs"},
                          "command": " ".join(["python", "bench/recorder_topk_cnn.py",
                                               *(argv if argv is not None else sys.argv[1:])])})


if __name__ == "__main__":
    main()
