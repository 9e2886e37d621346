"""Run under torchrun (2 ranks, gloo): python -m torch.distributed.run --nproc_per_node 2 ddp_job.py OUT_DIR.

Each rank writes OUT_DIR/rank{r}.pt with: the merged hook states of an uninterrupted 3-epoch run,
its own per-rank contributions (a spy hook that is never merged), the model, the same run
resumed from a checkpoint written after epoch 2, and a hand-made merge of per-sample state.
"""
import sys
from pathlib import Path

import numpy as np
import torch

from reidprune.dynamics.recorder import LogitRecorder
from reidprune.dynamics.topk import TopKLogitRecorder
from reidprune.dynamics.trackers import AUMTracker, ForgettingTracker, LossEMATracker
from reidprune.models.reid import build_model
from reidprune.train import distributed
from reidprune.train.config import cpu_quick_config
from reidprune.train.loop import fit


class Spy:
    """This rank's own contributions: logit sums, visit counts and every batch, never merged."""

    merge_rules: dict = {}

    def __init__(self, n, c):
        self.sums, self.counts = torch.zeros(n, c), torch.zeros(n, dtype=torch.int64)
        self.epoch, self.batches = 1, []

    def update(self, ids, logits, labels=None):
        self.sums.index_add_(0, ids, logits.float())
        self.counts.index_add_(0, ids, torch.ones_like(ids))
        self.batches.append((self.epoch, ids.clone(), logits.detach().clone(), labels.clone()))

    def end_epoch(self):
        self.epoch += 1


def world(n_classes=4, per_class=12, size=(16, 8)):
    gen = torch.Generator().manual_seed(0)
    labels = np.repeat(np.arange(n_classes), per_class)
    images = torch.randint(0, 256, (len(labels), 3, *size), generator=gen, dtype=torch.uint8)
    return images, labels


def run(images, labels, epochs, checkpoint=None):
    config = cpu_quick_config(mode="classify", epochs=epochs, batch_size=8, height=16, width=8, device="cpu",
                              label_smoothing=0.0)
    n, c = len(labels), int(labels.max()) + 1
    torch.manual_seed(0)
    model = build_model("small", c)
    hooks = [LogitRecorder(n, c), ForgettingTracker(n), AUMTracker(n), LossEMATracker(n), Spy(n, c),
             TopKLogitRecorder(n, c, k=2)]
    fit(model, images, labels, config, hooks=hooks, checkpoint=checkpoint, run_key="ddp", progress=False)
    return {"recorder": hooks[0].state_dict(), "forgetting": hooks[1].state_dict(), "aum": hooks[2].state_dict(),
            "ema": hooks[3].state_dict(), "spy_sums": hooks[4].sums, "spy_counts": hooks[4].counts,
            "spy_batches": hooks[4].batches, "topk": hooks[5].state_dict(),
            "model": model.state_dict()}


def hand_merge(rank):
    """Rank 0 presents ids 0, 1 at global step 0; rank 1 presents ids 1, 2 at global step 1."""
    ema = LossEMATracker(4, decay=0.5)
    merger = distributed.HookMerger([ema], 4, torch.device("cpu"))
    ids = torch.tensor([0, 1]) if rank == 0 else torch.tensor([1, 2])
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]]) if rank == 0 else torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    ema.update(ids, logits, torch.tensor([0, 0]))
    merger.note(ids, global_step=rank)
    local = ema.ema.clone()
    merger.merge()
    return {"local_ema": local, "ema": ema.ema.clone(), "counts": ema.counts.clone()}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    assert distributed.init_from_env()
    rank, _ = distributed.rank_and_world()
    torch.set_num_threads(1)
    images, labels = world()
    result = {"full": run(images, labels, 3), "hand": hand_merge(rank)}
    ckpt = out / "run.ckpt"
    run(images, labels, 2, ckpt)  # "interrupted" after epoch 2: the same run_key, a constant schedule
    result["resumed"] = run(images, labels, 3, ckpt)
    torch.save(result, out / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()
