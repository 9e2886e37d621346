"""Record one scoring run's training dynamics epoch by epoch, for offline study of windows and stops.

CUHK03 with symmetric label noise, a pretrained backbone: after every epoch this keeps the
epoch's logit sums and visit counts (so any window of epochs can be averaged afterwards),
the epoch's AUM margin sums on the given labels, the training accuracy against the given labels,
and the BNNeck embeddings of an evaluation pass. Everything goes to one .npz (not committed: it
is large); a summary of the per-epoch detection quality of the paper's cumulative rule goes to
JSON.

    python bench/cuhk03_dynamics.py --recipe flip --out /tmp/dyn_flip.npz \
        --summary bench/results/cuhk03_dynamics_flip.json
    python bench/cuhk03_dynamics.py --summarize /tmp/dyn_flip.npz --summary bench/results/cuhk03_dynamics_flip.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from reidprune.data.images import load_images
from reidprune.data.layouts import load_dataset
from reidprune.data.noise import inject_symmetric_noise
from reidprune.models.reid import build_model
from reidprune.train.augment import AugmentConfig
from reidprune.train.config import paper_scoring_config
from reidprune.train.loop import fit, predict

from cuhk03_noise import detection  # the same metrics as the other CUHK03 benches (same folder)

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "cuhk03"

RECIPES = {
    # flip only, plain shuffled batches, CE + label smoothing
    "flip": dict(mode="classify", label_smoothing=0.1, augment=AugmentConfig(pad=0, erasing=0.0)),
    # the paper's: P x K batches, CE + LS + triplet, flip + pad-crop + random erasing
    "paper": dict(mode="reid", augment=AugmentConfig(pad=5)),
}


class EpochDynamics:
    """Per-epoch logit sums, counts, AUM margin sums and correct counts (given labels)."""

    def __init__(self, n: int, c: int):
        self.n, self.c = n, c
        self.sums, self.counts, self.margins, self.correct = [], [], [], []
        self._new()

    def _new(self):
        self.s = torch.zeros(self.n, self.c)
        self.k = torch.zeros(self.n)
        self.m = torch.zeros(self.n)
        self.r = torch.zeros(self.n)

    def update(self, ids, logits, labels=None):
        logits = logits.float()
        self.s.index_add_(0, ids, logits)
        self.k.index_add_(0, ids, torch.ones(len(ids)))
        given = logits.gather(1, labels[:, None]).squeeze(1)
        other = logits.scatter(1, labels[:, None], float("-inf")).max(1).values
        self.m.index_add_(0, ids, given - other)
        self.r.index_add_(0, ids, (logits.argmax(1) == labels).float())

    def end_epoch(self):
        self.sums.append(self.s.numpy().astype(np.float32))
        self.counts.append(self.k.numpy().copy())
        self.margins.append(self.m.numpy().copy())
        self.correct.append(self.r.numpy().copy())
        self._new()


class Embeddings:
    def __init__(self, images, config):
        self.images, self.config, self.out, self.times = images, config, [], []

    def on_epoch_end(self, epoch, model):
        self.times.append(time.perf_counter())
        _, emb = predict(model, self.images, device="cpu")
        self.out.append(emb.astype(np.float16))


def summarize(npz: Path) -> dict:
    """Per epoch: the paper's cumulative rule, the epoch alone, AUM < 0 on the same logits, accuracy."""
    d = np.load(npz)
    sums, counts, margins, correct = d["sums"], d["counts"], d["margins"], d["correct"]
    noisy, flipped, true = d["noisy"], d["flipped"].astype(bool), d["true"]
    rows = []
    for e in range(len(sums)):
        def soft(s, c):
            return torch.softmax(torch.as_tensor(s / np.maximum(c, 1)[:, None], dtype=torch.float64), 1).numpy()
        cumulative_soft = soft(sums[:e + 1].sum(0), counts[:e + 1].sum(0))
        cumulative = cumulative_soft.argmax(1)
        top = cumulative_soft.max(1)
        alone = soft(sums[e], counts[e]).argmax(1)
        aum = margins[:e + 1].sum(0) / np.maximum(counts[:e + 1].sum(0), 1)
        rows.append({"epoch": e + 1, "train_accuracy": round(float(correct[e].sum() / counts[e].sum()), 4),
                     "ours_cumulative": detection(cumulative != noisy, flipped, cumulative, true),
                     "epoch_alone": detection(alone != noisy, flipped, alone, true),
                     "aum_below_zero": detection(aum < 0, flipped, None, true),
                     # outlier share (max soft label <= delta) and how many of those are mislabeled
                     "outliers": {f"delta_{d:g}": {"share": round(float((top <= d).mean()), 4),
                                                   "mislabeled": round(float(flipped[top <= d].mean()), 4)
                                                   if (top <= d).any() else None}
                                  for d in (0.03, 0.05, 0.10)}})
    return {"benchmark": "per-epoch detection quality of one scoring run (CUHK03, symmetric noise)",
            "noisy_labels": int(flipped.sum()), "epochs": rows}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, help="the run's .npz (large; not committed)")
    parser.add_argument("--summary", type=Path, help="write the per-epoch summary JSON here")
    parser.add_argument("--summarize", type=Path, help="only summarise an existing .npz")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="flip")
    parser.add_argument("--noise", type=float, default=0.20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--backbone", default="mobilenetv2")
    parser.add_argument("--size", default="128x64")
    parser.add_argument("--lr", type=float, default=3.5e-4)
    args = parser.parse_args(argv)
    if args.summarize:
        summary = summarize(args.summarize)
        print(json.dumps(summary["epochs"][-1]))
        if args.summary:
            args.summary.write_text(json.dumps(summary, indent=1))
        return
    if args.out is None:
        parser.error("--out is required unless --summarize")

    h, w = (int(v) for v in args.size.split("x"))
    train = load_dataset(args.data, "market1501").split_table("train")
    noisy, flipped = inject_symmetric_noise(train.label, args.noise, train.num_classes, args.seed)
    images, _ = load_images(train, size=(h, w), progress=False)
    config = paper_scoring_config(backbone=args.backbone, height=h, width=w, epochs=args.epochs, lr=args.lr,
                                  seed=args.seed, device="cpu", **RECIPES[args.recipe])
    model = build_model(args.backbone, train.num_classes, pretrained=True)
    dyn = EpochDynamics(len(train), train.num_classes)
    emb = Embeddings(images, config)
    began = time.perf_counter()
    result = fit(model, images, noisy, config, hooks=[dyn], callbacks=[emb], progress=False)
    np.savez(args.out, sums=np.stack(dyn.sums), counts=np.stack(dyn.counts), margins=np.stack(dyn.margins),
             correct=np.stack(dyn.correct), embeddings=np.stack(emb.out), noisy=noisy, flipped=flipped,
             true=train.label, epoch_end=np.array(emb.times) - began)
    print(json.dumps({"seconds": round(time.perf_counter() - began, 1), "losses": result.losses,
                      "weights": model.weights_info.as_dict()}))
    if args.summary:
        summary = summarize(args.out)
        summary.update({"recipe": args.recipe, "noise": args.noise, "seed": args.seed, "backbone": args.backbone,
                        "input": args.size, "lr": args.lr, "seconds": round(time.perf_counter() - began, 1)})
        args.summary.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
