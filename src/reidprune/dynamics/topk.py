"""A logit recorder for more samples x classes than memory: top-k running sums plus the rest.

The exact :class:`~reidprune.dynamics.recorder.LogitRecorder` holds N x C float32 sums:
1M samples x 100k classes is 400 GB. This recorder keeps, per sample,

* ``k`` slots: a class index and the running sum of that class's logit over the sample's
  recorded visits (the classes with the largest running sums: the soft label's head);
* the running sum over visits of the MEAN logit of the other ``C - k`` classes and of their
  LOG-MEAN-EXP (``logsumexp - log(C - k)``, the remainder's mass on the logit scale);
* the visit count.

A class that enters the slots at a later visit has no sum for the visits before: they are
filled in with the remainder's mean logit of those visits (it was in the remainder then).
:meth:`TopKLogitRecorder.summary` returns the mean slot logits and the remainder's logit;
:func:`reidprune.scores.entropy.sparse_soft_label_stats` turns them into the entropy, max
score and argmax of the soft label, with the remainder modelled as ``C - k`` classes at one
logit. The head (argmax, max score) is as exact as the slots; the entropy's tail is an
estimate: ``bench/recorder_topk.py`` measures its error against the exact recorder.

Memory (bytes): ``N x (8 k + 16)`` on the device (int32 index + float32 sum per slot; int64
count, two float32 remainder sums), independent of C, plus per step a few ``B x C`` buffers
of the batch's size. 1M samples x k = 64: 0.53 GB (exact: 400 GB at C = 100k).
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
import torch

from reidprune.dynamics.base import EpochWindow, check_batch
from reidprune.errors import ReidPruneError


@dataclass(frozen=True)
class SparseLogits:
    """Mean logits of every sample, kept sparse: k slots plus one logit for the remainder.

    Attributes
    ----------
    index:
        ``(N, k)`` int64 class of each slot, by decreasing mean logit (ties: lower class first).
    mean:
        ``(N, k)`` float64 mean logit of each slot's class; NaN rows for unrecorded samples.
    rest_logit:
        ``(N,)`` float64 logit standing for each of the ``num_classes - k`` other classes
        (the mean over visits of their log-mean-exp); NaN for unrecorded samples.
    num_classes:
        C.
    visits:
        ``(N,)`` int64 recorded passes per sample.
    """

    index: np.ndarray
    mean: np.ndarray
    rest_logit: np.ndarray
    num_classes: int
    visits: np.ndarray


def topk_memory_bytes(num_samples: int, k: int) -> int:
    """Bytes the recorder's state takes on its device: ``N x (8 k + 16)``."""
    return num_samples * (8 * k + 16)


class TopKLogitRecorder:
    """Record the head of each sample's mean logits in ``O(N k)`` memory (not ``O(N C)``).

    Same hook interface as :class:`~reidprune.dynamics.recorder.LogitRecorder`:
    ``update(ids, logits, labels=None)`` every step, ``end_epoch()`` after every epoch,
    ``state_dict()`` / ``load_state_dict()`` for checkpoints. ``update`` stays on the logits'
    device and never waits for the host (repeated ids in a batch included).

    Parameters
    ----------
    num_samples, num_classes:
        N and C of the training set.
    k:
        Slots per sample, ``1 <= k < C``. The entropy's accuracy grows with k (see the
        module docstring for the memory: ``N x (8 k + 16)`` bytes).
    device:
        Where the state lives; pass the logits' device.
    every, start, stop:
        Epoch window, as for ``LogitRecorder``.
    """

    def __init__(self, num_samples: int, num_classes: int, k: int, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        if num_samples < 1 or num_classes < 2:
            raise ReidPruneError(
                f"need at least 1 sample and 2 classes, got N={num_samples}, C={num_classes}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < num_classes:
            raise ReidPruneError(
                f"top-k recorder needs 1 <= k < C = {num_classes}, got k={k!r}; for k >= C use the "
                "exact recorder (it is then smaller)")
        self.num_samples, self.num_classes, self.k = num_samples, num_classes, int(k)
        self.window = EpochWindow(every, start, stop)
        # One spare row at the end absorbs the writes of repeated ids in a batch.
        rows = num_samples + 1
        self.index = torch.full((rows, self.k), -1, dtype=torch.int32, device=device)
        self.sums = torch.zeros(rows, self.k, dtype=torch.float32, device=device)
        self.rest_mean_sum = torch.zeros(rows, dtype=torch.float32, device=device)
        self.rest_lme_sum = torch.zeros(rows, dtype=torch.float32, device=device)
        self.counts = torch.zeros(rows, dtype=torch.int64, device=device)

    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None:
        """Add one batch's logits (B x C, any float dtype) for dataset indices ``ids`` (B,).

        Repeated ids in a batch each count as a visit: their logits are summed into one row
        first (the remainder's log-mean-exp is then taken of their mean).
        """
        if not self.window.active():
            return
        check_batch(ids, logits, self.num_samples, self.num_classes)
        device = self.sums.device
        ids = ids.to(device, non_blocking=True).long()
        logits = logits.detach().to(device, torch.float32)
        owner, target = self._batch_owners(ids)
        batch = len(ids)
        logit_sums = torch.zeros_like(logits).index_add_(0, owner, logits)
        visits = torch.zeros(batch, dtype=torch.int64, device=device).index_add_(
            0, owner, torch.ones_like(owner))
        count = self.counts[ids]
        index, sums = self.index[ids].long(), self.sums[ids]
        filled = index >= 0  # a row's slots are all empty (never visited) or all filled
        # Existing slots: add this visit's logits exactly.
        sums = torch.where(filled, sums + logit_sums.gather(1, index.clamp(min=0)), -math.inf)
        # Candidates: this visit's top-k classes; their past visits are filled in with the
        # remainder's mean logit of those visits.
        candidate_sums, candidates = torch.topk(logit_sums, self.k, dim=1)
        candidate_sums = candidate_sums + self.rest_mean_sum[ids, None]
        in_slots = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, index.clamp(min=0), filled)
        candidate_sums = candidate_sums.masked_fill(in_slots.gather(1, candidates), -math.inf)
        del in_slots
        merged_sums, pick = torch.topk(torch.cat([sums, candidate_sums], 1), self.k, dim=1)
        merged_index = torch.cat([index, candidates], 1).gather(1, pick)
        # The remainder of this visit: every class outside the new slots.
        rest = logit_sums.scatter(1, merged_index, 0.0)
        num_rest = self.num_classes - self.k
        mean_logit_sum = rest.sum(1) / num_rest
        visits_float = visits.clamp(min=1).to(torch.float32)
        rest = (logit_sums / visits_float[:, None]).scatter_(1, merged_index, -math.inf)
        log_mean_exp = torch.logsumexp(rest, dim=1) - math.log(num_rest)
        # Only the first occurrence of an id writes its row; repeats write to the spare row.
        self.index[target] = merged_index.to(torch.int32)
        self.sums[target] = merged_sums
        self.rest_mean_sum[target] = self.rest_mean_sum[ids] + mean_logit_sum
        self.rest_lme_sum[target] = self.rest_lme_sum[ids] + log_mean_exp * visits_float
        self.counts[target] = count + visits

    def _batch_owners(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For each batch row, the row of its id's first occurrence (``owner``), and the state
        row it writes to (``target``: its id if it is that first occurrence, else the spare
        row). Fixed-size tensor operations only: no host synchronisation."""
        batch = len(ids)
        positions = torch.arange(batch, device=ids.device)
        sorted_ids, order = torch.sort(ids, stable=True)
        starts = torch.ones(batch, dtype=torch.bool, device=ids.device)
        starts[1:] = sorted_ids[1:] != sorted_ids[:-1]
        run_start = torch.cummax(torch.where(starts, positions, 0), dim=0).values
        owner = torch.empty_like(positions)
        owner[order] = order[run_start]
        target = torch.where(owner == positions, ids, self.num_samples)
        return owner, target

    def end_epoch(self) -> None:
        self.window.advance()

    def summary(self, allow_missing: bool = False) -> SparseLogits:
        """Mean slot logits and remainder logit per sample (on the host, numpy).

        A sample never recorded raises, or with ``allow_missing=True`` gets NaN rows.
        """
        counts = self.counts[:-1].cpu().numpy()
        missing = np.flatnonzero(counts == 0)
        if len(missing) and not allow_missing:
            raise ReidPruneError(
                f"{len(missing)} of {self.num_samples} samples were never recorded (first: index "
                f"{missing[0]}); train for more epochs or use a sampler that visits every sample")
        visits = np.maximum(counts, 1).astype(np.float64)
        index = self.index[:-1].cpu().numpy().astype(np.int64)
        mean = self.sums[:-1].cpu().numpy().astype(np.float64) / visits[:, None]
        rest = self.rest_lme_sum[:-1].cpu().numpy().astype(np.float64) / visits
        bad = (~np.isfinite(mean).all(1) | ~np.isfinite(rest)) & (counts > 0)
        if bad.any():
            raise ReidPruneError(
                f"non-finite logits were recorded (first at sample {int(np.flatnonzero(bad)[0])}); "
                "lower the learning rate or disable mixed precision")
        # Slots by decreasing mean logit, ties by class index (the exact argmax's tie rule).
        order = _order_slots(index, mean)
        index, mean = np.take_along_axis(index, order, 1), np.take_along_axis(mean, order, 1)
        mean[counts == 0] = np.nan
        rest[counts == 0] = np.nan
        return SparseLogits(index, mean, rest, self.num_classes, counts.astype(np.int64))

    def state_dict(self) -> dict:
        return {"k": self.k, "index": self.index.cpu().clone(), "sums": self.sums.cpu().clone(),
                "rest_mean_sum": self.rest_mean_sum.cpu().clone(),
                "rest_lme_sum": self.rest_lme_sum.cpu().clone(), "counts": self.counts.cpu().clone(),
                "window": self.window.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if int(state.get("k", -1)) != self.k or tuple(state["sums"].shape) != tuple(self.sums.shape):
            raise ReidPruneError(
                f"top-k recorder state has k={state.get('k')} and shape {tuple(state['sums'].shape)}, "
                f"expected k={self.k} and {tuple(self.sums.shape)}")
        for name in ("index", "sums", "rest_mean_sum", "rest_lme_sum", "counts"):
            getattr(self, name).copy_(state[name])
        self.window.load_state_dict(state["window"])


def _order_slots(index: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per row, the slot order by decreasing mean, equal means by increasing class."""
    order = np.argsort(index, axis=1, kind="stable")
    by_mean = np.argsort(-np.take_along_axis(mean, order, 1), axis=1, kind="stable")
    return np.take_along_axis(order, by_mean, 1)
