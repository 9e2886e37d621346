"""The paper's logit-trajectory recorder: running fp32 sums of logits and visit counts.

Memory is N x C floats plus N counts (never T x N x C). Works with any training loop::

    recorder = LogitRecorder(num_samples=len(train_set), num_classes=C, device="cuda")
    for epoch in range(12):
        for images, labels, ids in loader:
            logits = model(images)
            ...  # loss, backward, step
            recorder.update(ids, logits)
        recorder.end_epoch()
    soft = recorder.soft_labels()          # softmax of the mean logits, N x C
"""
from __future__ import annotations

import torch

from reidprune.dynamics.base import EpochWindow, check_batch
from reidprune.errors import ReidPruneError


class LogitRecorder:
    """Accumulate every recorded forward pass's logits per sample.

    Parameters
    ----------
    num_samples, num_classes:
        N and C of the training set.
    device:
        Where the sums live; pass the logits' device so ``update`` never copies to the host.
    every, start, stop:
        Epoch window (see :class:`~reidprune.dynamics.base.EpochWindow`): ``every=1`` records
        every epoch (the paper's method); ``every=k`` records epochs k, 2k, ...; ``every=T,
        stop=T`` records only the last of T epochs (the paper's ablation, Fig. 10/11).
    """

    # how several training processes combine their states (reidprune.train.distributed)
    merge_rules = {"sums": "sum", "counts": "sum"}

    def __init__(self, num_samples: int, num_classes: int, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        if num_samples < 1 or num_classes < 2:
            raise ReidPruneError(
                f"need at least 1 sample and 2 classes, got N={num_samples}, C={num_classes}")
        self.num_samples, self.num_classes = num_samples, num_classes
        self.window = EpochWindow(every, start, stop)
        self.sums = torch.zeros(num_samples, num_classes, dtype=torch.float32, device=device)
        self.counts = torch.zeros(num_samples, dtype=torch.int64, device=device)

    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None:
        """Add one batch's logits (B x C, any float dtype) for dataset indices ``ids`` (B,).

        Repeated ids in a batch (P x K sampling with replacement) each count as a visit.
        """
        if not self.window.active():
            return
        check_batch(ids, logits, self.num_samples, self.num_classes)
        ids = ids.to(self.sums.device, non_blocking=True)
        self.sums.index_add_(0, ids, logits.detach().to(self.sums.device, torch.float32))
        self.counts.index_add_(0, ids, torch.ones_like(ids, dtype=torch.int64))

    def end_epoch(self) -> None:
        self.window.advance()

    def mean_logits(self, allow_missing: bool = False) -> torch.Tensor:
        """Mean logits per sample (N x C, fp32, on CPU).

        A sample never recorded (the sampler skipped it in every recorded epoch) has no soft
        label: that raises, or with ``allow_missing=True`` its row is NaN.
        """
        counts = self.counts.cpu()
        missing = torch.nonzero(counts == 0).flatten()
        if len(missing) and not allow_missing:
            raise ReidPruneError(
                f"{len(missing)} of {self.num_samples} samples were never recorded (first: index "
                f"{missing[0].item()}); train for more epochs or use a sampler that visits every sample")
        mean = self.sums.cpu() / counts.unsqueeze(1).to(torch.float32)
        mean[counts == 0] = float("nan")
        bad_rows = ~torch.isfinite(mean).all(1) & (counts > 0)
        if bad_rows.any():
            bad = torch.nonzero(bad_rows).flatten()[0].item()
            raise ReidPruneError(
                f"non-finite logits were recorded (first at sample {bad}); lower the learning rate "
                "or disable mixed precision")
        return mean

    def soft_labels(self) -> torch.Tensor:
        """Softmax of the mean logits (Eq. 1 of the paper), N x C."""
        return torch.softmax(self.mean_logits().double(), dim=1).float()

    def state_dict(self) -> dict:
        return {"sums": self.sums.cpu().clone(), "counts": self.counts.cpu().clone(),
                "window": self.window.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["sums"].shape) != tuple(self.sums.shape):
            raise ReidPruneError(
                f"recorder state has shape {tuple(state['sums'].shape)}, expected {tuple(self.sums.shape)}")
        self.sums.copy_(state["sums"])
        self.counts.copy_(state["counts"])
        self.window.load_state_dict(state["window"])
