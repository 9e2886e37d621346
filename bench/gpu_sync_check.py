"""GPU only: the training steps, recorder and trackers never synchronise with the host.

Runs ``fit`` with every recorder and tracker on CUDA and turns on
``torch.cuda.set_sync_debug_mode("error")`` after the first step of each epoch (the first
step does the NaN check, which synchronises on purpose every 50 steps) until the epoch ends
(the epoch end reads the loss and writes checkpoints, also on purpose). An epoch has fewer
than 50 steps, so any host synchronisation inside steps 2..end raises and the script exits 1
naming the operation. One command:

    python bench/gpu_sync_check.py            # add --compile / --stream to check those paths
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from reidprune.dynamics.recorder import LogitRecorder
from reidprune.dynamics.trackers import AUMTracker, ForgettingTracker, LossEMATracker
from reidprune.models.reid import build_model
from reidprune.train import batches, loop
from reidprune.train.config import paper_scoring_config


class SyncGuard:
    """A hook listed first: from a step's hook calls on, host synchronisations raise."""

    merge_rules: dict = {}

    def __init__(self):
        self.guarded_steps = 0

    def update(self, ids, logits, labels=None):
        if torch.cuda.get_sync_debug_mode() == 0:
            torch.cuda.set_sync_debug_mode("error")
        else:
            self.guarded_steps += 1

    def end_epoch(self):
        torch.cuda.set_sync_debug_mode(0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--stream", action="store_true", help="stream batches from host memory (pinned prefetch)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 2
    n, c = 64 * 40, 100  # 40 steps per epoch: no NaN check after the first step
    labels = np.arange(n) % c
    images = torch.randint(0, 256, (n, 3, 256, 128), dtype=torch.uint8)
    config = paper_scoring_config(backbone=args.backbone, epochs=2, device="cuda", compile=args.compile)
    if args.stream:
        batches.DEVICE_FRACTION = 0.0
    hooks = [SyncGuard(), LogitRecorder(n, c, "cuda"), ForgettingTracker(n, "cuda"), AUMTracker(n, "cuda"),
             LossEMATracker(n, device="cuda")]
    torch.manual_seed(0)
    try:
        loop.fit(build_model(config.backbone, c), images, labels, config, hooks=hooks, progress=False)
    except RuntimeError as exc:
        torch.cuda.set_sync_debug_mode(0)
        print(f"FAIL: a host synchronisation inside a training step: {exc}", file=sys.stderr)
        return 1
    print(f"OK: {hooks[0].guarded_steps} training steps ran with no host synchronisation "
          f"(compile={args.compile}, stream={args.stream})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
