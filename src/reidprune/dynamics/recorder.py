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

from reidprune.dynamics.base import SampleTracker
from reidprune.errors import ReidPruneError


class LogitRecorder(SampleTracker):
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

    # the state, and how several training processes combine it (reidprune.train.distributed)
    state_tensors = {"sums": "sum", "counts": "sum"}
    needs_labels = False
    visit_word = "recorded"

    def __init__(self, num_samples: int, num_classes: int, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        if num_samples < 1 or num_classes < 2:
            raise ReidPruneError(
                f"need at least 1 sample and 2 classes, got N={num_samples}, C={num_classes}")
        super().__init__(num_samples, device, every, start, stop)
        self.num_classes = num_classes
        self.sums = torch.zeros(num_samples, num_classes, dtype=torch.float32, device=device)

    def _record(self, ids: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Add one batch's logits (B x C, any float dtype); a repeated id in a batch (P x K
        sampling with replacement) counts each time."""
        self.sums.index_add_(0, ids, logits.to(self.sums.device, torch.float32))

    def restore(self, sums: torch.Tensor, counts: torch.Tensor, epoch: int) -> None:
        """Roll back to an earlier state (the sums and counts after ``epoch``) and close the window there."""
        if tuple(sums.shape) != tuple(self.sums.shape) or tuple(counts.shape) != tuple(self.counts.shape):
            raise ReidPruneError(f"cannot restore sums {tuple(sums.shape)} / counts {tuple(counts.shape)} into a "
                                 f"recorder of {tuple(self.sums.shape)}")
        self.sums.copy_(sums)
        self.counts.copy_(counts)
        self.close_window(epoch)

    def mean_logits(self, allow_missing: bool = False) -> torch.Tensor:
        """Mean logits per sample (N x C, fp32, on CPU).

        A sample never recorded (the sampler skipped it in every recorded epoch) has no soft
        label: that raises, or with ``allow_missing=True`` its row is NaN.
        """
        counts = self.presentations(allow_missing)
        mean = self.sums.cpu() / counts.unsqueeze(1).to(torch.float32)
        mean[counts == 0] = float("nan")
        bad_rows = ~torch.isfinite(mean).all(1) & (counts > 0)
        if bad_rows.any():
            bad = torch.nonzero(bad_rows).flatten()[0].item()
            raise ReidPruneError(
                f"non-finite logits were recorded (first at sample {bad}); lower the learning rate "
                "or disable mixed precision")
        return mean

    def soft_labels(self, allow_missing: bool = False) -> torch.Tensor:
        """Softmax of the mean logits (Eq. 1 of the paper), N x C.

        With ``allow_missing=True`` a sample never recorded gets the uniform soft label (float64;
        what the per-epoch stop rules read while a window is still filling)."""
        if not allow_missing:
            return torch.softmax(self.mean_logits().double(), dim=1).float()
        mean = self.mean_logits(allow_missing=True).double()
        return torch.softmax(torch.where(torch.isfinite(mean).all(1)[:, None], mean, 0.0), dim=1)
