"""Dynamic pruning: train on fewer samples each epoch instead of on a smaller set (InfoBatch-style).

InfoBatch (Qin et al., ICLR 2024) skips, each epoch, a random share of the samples whose loss is
below the mean, scales the loss of the easy samples it keeps by ``1 / (1 - ratio)`` so the
expected gradient is unchanged, and trains on everything in the last epochs. Here "easy" is our
score: the entropy of the running soft label (the mean logits recorded so far, below the mean
entropy), read from the run's own :class:`~reidprune.dynamics.recorder.LogitRecorder`.

The training loop asks :meth:`DynamicPruner.plan` for each epoch's active samples and loss
weights, draws its P x K batches from the active samples only (every identity with an active
image stays sampled, short groups are filled as usual), and keeps its learning-rate schedule
on the full set's iterations. The plan of the current epoch is part of the checkpoint, so a
resumed epoch trains on the same samples.
"""
from __future__ import annotations

import numpy as np
import torch

from reidprune.errors import ReidPruneError


#: What "easy" means: a running soft label's entropy below the mean (InfoBatch's threshold on its
#: loss) or below the median (exactly half the recorded samples are easy).
EASY_RULES = ("mean", "median")


class DynamicPruner:
    """Each epoch, skip a random ``ratio`` of the samples the running soft label calls easy.

    Parameters
    ----------
    recorder: the run's :class:`~reidprune.dynamics.recorder.LogitRecorder` (also passed to the
        loop as a hook, so it records every epoch).
    ratio: the share of the easy samples skipped each epoch, in [0, 1).
    anneal: the share of the last epochs trained on every sample (InfoBatch: 0.125).
    seed: seed of the draws (one per epoch).
    easy: one of :data:`EASY_RULES`: the entropy threshold below which a sample is easy.
    """

    name = "DynamicPruner"

    def __init__(self, recorder, ratio: float = 0.5, anneal: float = 0.125, seed: int = 0, easy: str = "mean"):
        if easy not in EASY_RULES:
            raise ReidPruneError(f"unknown rule for easy samples {easy!r}; choose one of {', '.join(EASY_RULES)}")
        if not 0 <= ratio < 1:
            raise ReidPruneError(f"the dynamic pruning ratio must lie in [0, 1), got {ratio}")
        if not 0 <= anneal <= 1:
            raise ReidPruneError(f"the annealing share must lie in [0, 1], got {anneal}")
        self.recorder, self.ratio, self.anneal, self.seed, self.easy = recorder, ratio, anneal, seed, easy
        self._plan: tuple[int, np.ndarray | None, np.ndarray | None] | None = None
        self.skipped = 0  # sample visits skipped so far (for the report)

    def plan(self, epoch: int, epochs: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """``(active, weights)`` for ``epoch`` of ``epochs``: the indices to train on and every
        sample's loss weight, or ``(None, None)`` to train on everything (the first epoch, before
        any soft label, and the annealing epochs)."""
        if self._plan is not None and self._plan[0] == epoch:
            return self._plan[1], self._plan[2]
        active = weights = None
        counts = self.recorder.counts.cpu().numpy()
        if self.ratio > 0 and epoch <= round((1 - self.anneal) * epochs) and counts.any():
            easy = self._easy(counts > 0)
            drop = easy & (np.random.default_rng([self.seed, epoch, 0xD1]).random(len(easy)) < self.ratio)
            active = np.flatnonzero(~drop)
            weights = np.where(easy & ~drop, 1.0 / (1.0 - self.ratio), 1.0)
            self.skipped += int(drop.sum())
        self._plan = (epoch, active, weights)
        return active, weights

    def _easy(self, seen: np.ndarray) -> np.ndarray:
        """Samples whose running soft label has entropy below the mean or median of the recorded
        ones (never-seen ones are not easy)."""
        soft = self.recorder.soft_labels(allow_missing=True).double()
        entropy = -(soft * torch.log(soft.clamp_min(1e-12))).sum(1).numpy()
        threshold = entropy[seen].mean() if self.easy == "mean" else np.median(entropy[seen])
        return seen & (entropy < threshold)

    def state_dict(self) -> dict:
        epoch, active, weights = self._plan if self._plan is not None else (0, None, None)
        return {"epoch": epoch, "skipped": self.skipped,
                "active": torch.as_tensor(active if active is not None else np.zeros(0, np.int64)),
                "weights": torch.as_tensor(weights if weights is not None else np.zeros(0)),
                "full": active is None}

    def load_state_dict(self, state: dict) -> None:
        full = bool(state["full"])
        self._plan = None if not int(state["epoch"]) else (
            int(state["epoch"]), None if full else state["active"].numpy(), None if full else state["weights"].numpy())
        self.skipped = int(state["skipped"])
