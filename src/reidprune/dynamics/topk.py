"""A logit recorder for more samples x classes than memory: top-k running sums plus the rest.

The exact :class:`~reidprune.dynamics.recorder.LogitRecorder` holds N x C float32 sums:
1M samples x 100k classes is 400 GB. The soft label is ``softmax(m)`` with ``m`` the mean of a
sample's recorded logits; this recorder keeps per sample, in ``O(k)`` memory:

* **k slots**: class index and running logit sum of the classes with the largest sums (the
  soft label's head), plus the given label's class whenever ``update`` receives labels (so the
  mislabel flag ``argmax != label`` compares two exactly tracked classes). A slot's sum is
  exact from the visit its class entered; its visits before that are estimated halfway
  from the rest's mean sum (the typical class outside) to the ``ceiling``, the sum over
  visits of the largest logit outside the slots (a bound for what the class had then); the
  same estimate decides whether a class enters, so a class that rises late gets in. With one
  class outside (``k = C - 1``) the rest's mean is that class's exact past.
* **the sum of all C logits** (exact): the other ``R = C - k`` classes' mean logit is the total
  minus the slots, divided by R.
* **the rest's spread**: per visit, the log-mean-exp of the rest minus its mean (``gap``) and
  its variance over classes (over the classes outside the slots both before and after the
  visit), summed over visits; and two *probe* classes per sample (fixed by the sample index)
  whose deviations from that mean are summed exactly, with their squares.

The rest's log-mean-exp of the MEAN logits, ``mu + g``, lies between ``mu`` (its mean: all R
classes equal) and ``mu + gap / n`` (the per-visit average, by Hoelder's inequality); the
per-visit spread is part persistent (shared by the visits: it survives in the mean) and part
noise (which averages out). The probes measure the noise part exactly on two classes per
sample; pooled over all samples they give the run's noise share ``rho`` of the per-visit
variance, and ``g = (1 - rho) gap / n``. :meth:`TopKLogitRecorder.summary` returns the mean
slot logits, the rest's log-mean-exp ``mu + g`` and ``g``;
:func:`reidprune.scores.entropy.sparse_soft_label_stats` models the rest as R classes with
that log-mean-exp and a Gaussian spread (their softmax-weighted mean logit is ``mu + 2 g``)
to give the entropy, max score and argmax. Error against the exact recorder: see the README
(``tests/dynamics/test_topk_recorder.py`` asserts it on a real training run).

Memory (bytes): ``N x (8 k + 40)`` on the device (int32 index + float32 sum per slot; eight
float32 sums: total, rest x 3, two probes x 2; one int64 count), independent of C, plus per
step a few ``B x C`` buffers of the batch's size. 1M samples x k = 64: 0.55 GB (exact: 400 GB
at C = 100k).
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np
import torch

from reidprune.dynamics.base import EpochWindow, check_batch
from reidprune.errors import ReidPruneError

CEILING_WEIGHT = 0.5  # past of an entering class: halfway from the rest's mean to its bound
PROBES = 2  # probe classes per sample (pooled over samples: the noise share of the spread)
_STATE = ("index", "sums", "total", "ceiling", "gap", "spread", "probe_sums", "probe_squares", "counts")


@dataclass(frozen=True)
class SparseLogits:
    """Mean logits of every sample, kept sparse: k slots plus a model of the remainder.

    Attributes
    ----------
    index:
        ``(N, k)`` int64 class of each slot, by decreasing mean logit (ties: lower class first).
    mean:
        ``(N, k)`` float64 mean logit of each slot's class; NaN rows for unrecorded samples.
    rest_logit:
        ``(N,)`` float64 estimated log-mean-exp of the other ``num_classes - k`` mean logits;
        NaN for unrecorded samples.
    rest_spread:
        ``(N,)`` float64 ``g``: ``rest_logit`` minus the rest's mean logit (>= 0; the rest's
        softmax-weighted mean logit is ``rest_logit + g`` under a Gaussian spread).
    num_classes:
        C.
    visits:
        ``(N,)`` int64 recorded passes per sample.
    noise_share:
        ``rho``: the share of the per-visit spread of the rest that is noise (pooled estimate).
    """

    index: np.ndarray
    mean: np.ndarray
    rest_logit: np.ndarray
    rest_spread: np.ndarray
    num_classes: int
    visits: np.ndarray
    noise_share: float


def topk_memory_bytes(num_samples: int, k: int) -> int:
    """Bytes the recorder's state takes on its device: ``N x (8 k + 40)``."""
    return num_samples * (8 * k + 4 * (4 + 2 * PROBES) + 8)


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
        Slots per sample, ``1 <= k < C``. Accuracy grows with k (memory ``N x (8 k + 40)``
        bytes). With ``k >= 2`` and labels given to ``update``, one slot holds the label.
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
        rows = num_samples + 1  # one spare row at the end absorbs the writes of repeated ids

        def zeros(*shape):
            return torch.zeros(rows, *shape, dtype=torch.float32, device=device)

        self.index = torch.full((rows, self.k), -1, dtype=torch.int32, device=device)
        self.sums = zeros(self.k)
        self.total = zeros()          # sum over visits of all C logits
        self.ceiling = zeros()        # sum over visits of the largest logit outside the slots
        self.gap = zeros()            # sum over visits of the rest's log-mean-exp minus its mean
        self.spread = zeros()         # sum over visits of the rest's variance over classes
        self.probe_sums = zeros(PROBES)   # sum over visits of each probe's deviation from the rest's mean
        self.probe_squares = zeros(PROBES)  # and of their squares
        self.counts = torch.zeros(rows, dtype=torch.int64, device=device)

    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None:
        """Add one batch's logits (B x C, any float dtype) for dataset indices ``ids`` (B,).

        ``labels`` (B,), when given, keeps each sample's label class in a slot (k >= 2).
        Repeated ids in a batch each count as a visit: their logits are summed into one row
        first (the rest's per-visit statistics are then taken of their mean).
        """
        if not self.window.active():
            return
        check_batch(ids, logits, self.num_samples, self.num_classes, labels)
        device = self.sums.device
        ids = ids.to(device, non_blocking=True).long()
        owner, target = self._batch_owners(ids)
        batch = torch.zeros(logits.shape, dtype=torch.float32, device=device).index_add_(
            0, owner, logits.detach().to(device, torch.float32))
        visits = torch.zeros(len(ids), dtype=torch.int64, device=device).index_add_(
            0, owner, torch.ones_like(owner))
        if labels is not None and self.k >= 2:
            labels = labels.to(device, non_blocking=True).long()
        else:
            labels = None
        index, sums = self._merge(ids, batch, labels)
        times = visits.clamp(min=1).to(torch.float32)
        visit = batch / times[:, None]  # the mean of the row's visits in this batch
        # The rest of this visit, R = C - k classes outside the new slots: its Hoelder gap.
        outside = torch.ones_like(batch, dtype=torch.bool).scatter_(1, index, False)
        num_rest = self.num_classes - self.k
        outside_mean = torch.where(outside, visit, 0.0).sum(1) / num_rest
        log_mean_exp = torch.logsumexp(visit.masked_fill(~outside, -math.inf), 1) - math.log(num_rest)
        # Its variance and the probes' deviations, over the classes outside the slots before and
        # after this visit (the entering classes are its peaks, the leaving ones its dips).
        before = self.index[ids].long()
        steady = outside & ~torch.zeros_like(outside).scatter_(1, before.clamp(min=0), before >= 0)
        num_steady = steady.sum(1).to(torch.float32)
        has_steady = (num_steady > 0).to(torch.float32)
        num_steady = num_steady.clamp(min=1)
        steady_mean = torch.where(steady, visit, 0.0).sum(1) / num_steady
        deviation = visit - steady_mean[:, None]
        variance = torch.where(steady, deviation.square(), 0.0).sum(1) / num_steady
        probe_deviation = deviation.gather(1, self._probes(ids)) * has_steady[:, None]
        # Only the first occurrence of an id writes its row; repeats write to the spare row.
        self.index[target] = index.to(torch.int32)
        self.sums[target] = sums
        self.total[target] = self.total[ids] + batch.sum(1)
        self.ceiling[target] = self.ceiling[ids] + batch.masked_fill(~outside, -math.inf).amax(1)
        self.gap[target] = self.gap[ids] + (log_mean_exp - outside_mean) * times
        self.spread[target] = self.spread[ids] + variance * times
        self.probe_sums[target] = self.probe_sums[ids] + probe_deviation * times[:, None]
        self.probe_squares[target] = self.probe_squares[ids] + probe_deviation.square() * times[:, None]
        self.counts[target] = self.counts[ids] + visits

    @property
    def merge_rules(self) -> dict[str, str]:
        """Several ranks (:mod:`reidprune.train.distributed`): each sample's whole row comes from
        the rank that presented it last. Slots cannot be summed (each rank may hold other
        classes); a row is one rank's consistent state. A sample presented on two ranks between
        merges (P x K repeats) keeps the later rank's visits only."""
        return {name: "latest" for name in _STATE}

    def _probes(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, PROBES) probe classes of samples ``ids``: fixed per sample, spread over C."""
        first = (ids * 40503) % self.num_classes
        return torch.stack([(first + p) % self.num_classes for p in range(PROBES)], 1)

    def _merge(self, ids: torch.Tensor, batch: torch.Tensor,
               labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows' new slots (class index, running sum) after adding ``batch`` (B x C sums).

        Candidates are this visit's k best classes outside the slots (and the label); a
        candidate's past is estimated halfway between the rest's mean sum and the row's
        ``ceiling`` (exactly the rest's when one class is outside); the k best sums stay (the
        label's class always)."""
        index = self.index[ids].long()
        filled = index >= 0  # a row's slots are all empty (never visited) or all filled
        slot_index = index.clamp(min=0)
        slot_sums = torch.where(filled, self.sums[ids] + batch.gather(1, slot_index), -math.inf)
        in_slots = torch.zeros_like(batch, dtype=torch.bool).scatter_(1, slot_index, filled)
        fresh = batch.masked_fill(in_slots, -math.inf)
        num_rest = self.num_classes - self.k
        rest_mean = (self.total[ids] - torch.where(filled, self.sums[ids], 0.0).sum(1)) / num_rest
        weight = CEILING_WEIGHT if num_rest > 1 else 0.0  # one class outside: its past is exact
        past = (weight * self.ceiling[ids] + (1 - weight) * rest_mean)[:, None]
        if labels is not None:
            fresh = fresh.scatter(1, labels[:, None], -math.inf)  # the label gets its own column
        candidate_sums, candidates = torch.topk(fresh, self.k, dim=1)
        merged_index = torch.cat([index, candidates], 1)
        merged_sums = torch.cat([slot_sums, candidate_sums + past], 1)
        rank = merged_sums
        if labels is not None:
            label_new = ~in_slots.gather(1, labels[:, None])
            label_sum = torch.where(label_new, batch.gather(1, labels[:, None]) + past, -math.inf)
            merged_index = torch.cat([merged_index, labels[:, None]], 1)
            merged_sums = torch.cat([merged_sums, label_sum], 1)
            is_label = (merged_index == labels[:, None]) & torch.isfinite(merged_sums)
            rank = merged_sums.masked_fill(is_label, math.inf)
        pick = torch.topk(rank, self.k, dim=1).indices
        return merged_index.gather(1, pick), merged_sums.gather(1, pick)

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
        """Mean slot logits and the rest's model per sample (on the host, numpy, float64).

        A sample never recorded raises, or with ``allow_missing=True`` gets NaN rows.
        """
        def host(tensor):
            return tensor[:-1].cpu().numpy().astype(np.float64)

        counts = self.counts[:-1].cpu().numpy()
        missing = np.flatnonzero(counts == 0)
        if len(missing) and not allow_missing:
            raise ReidPruneError(
                f"{len(missing)} of {self.num_samples} samples were never recorded (first: index "
                f"{missing[0]}); train for more epochs or use a sampler that visits every sample")
        seen = counts > 0
        visits = np.maximum(counts, 1).astype(np.float64)
        index = self.index[:-1].cpu().numpy().astype(np.int64)
        sums = host(self.sums)
        mean = sums / visits[:, None]
        num_rest = self.num_classes - self.k
        rest_mean = (host(self.total) - sums.sum(1)) / num_rest / visits
        probes = self._probes(torch.arange(self.num_samples)).numpy()
        outside = ~(probes[:, :, None] == index[:, None, :]).any(2)
        noise = noise_share(host(self.probe_sums), host(self.probe_squares), host(self.spread), counts, outside)
        spread = (1.0 - noise) * np.maximum(host(self.gap), 0.0) / visits
        bad = (~np.isfinite(mean).all(1) | ~np.isfinite(rest_mean) | ~np.isfinite(spread)) & seen
        if bad.any():
            raise ReidPruneError(
                f"non-finite logits were recorded (first at sample {int(np.flatnonzero(bad)[0])}); "
                "lower the learning rate or disable mixed precision")
        # Slots by decreasing mean logit, ties by class index (the exact argmax's tie rule).
        order = _order_slots(index, mean)
        index, mean = np.take_along_axis(index, order, 1), np.take_along_axis(mean, order, 1)
        mean[~seen] = np.nan
        rest = np.where(seen, rest_mean + spread, np.nan)
        spread[~seen] = np.nan
        return SparseLogits(index, mean, rest, spread, self.num_classes, counts.astype(np.int64), noise)

    def state_dict(self) -> dict:
        state = {name: getattr(self, name).cpu().clone() for name in _STATE}
        return {"k": self.k, **state, "window": self.window.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if int(state.get("k", -1)) != self.k or tuple(state["sums"].shape) != tuple(self.sums.shape) \
                or any(name not in state for name in _STATE):
            raise ReidPruneError(
                f"top-k recorder state has k={state.get('k')} and shape {tuple(state['sums'].shape)}, "
                f"expected k={self.k} and {tuple(self.sums.shape)} with the fields {', '.join(_STATE)} "
                "(a checkpoint of an older reidprune: score again from the start)")
        for name in _STATE:
            getattr(self, name).copy_(state[name])
        self.window.load_state_dict(state["window"])


def noise_share(probe_sums: np.ndarray, probe_squares: np.ndarray, spread: np.ndarray,
                counts: np.ndarray, usable: np.ndarray) -> float:
    """``rho``: the share of the rest's per-visit variance that does not survive averaging.

    Per sample, a probe class's deviations ``d_t`` from the rest's mean over its ``n`` visits
    split into the deviation of its mean and the within-class variance over visits,
    ``sum_t d_t^2 / n - (sum_t d_t / n)^2``; averaged over the probes it estimates the noise
    part of the per-visit variance ``spread / n`` of all rest classes. Pooled over samples
    (sums weighted by visits): ``rho = sum within / sum variance``, clipped to ``[0, 1]``.
    Probes that ended in a slot (a head class, often the label: its logit rises through
    training, which is no noise) are left out, with their share of the variance.

    Parameters
    ----------
    probe_sums:
        ``(N, P)`` sums over visits of each probe's deviation.
    probe_squares:
        ``(N, P)`` sums over visits of each probe's squared deviation.
    spread:
        ``(N,)`` sums over visits of the rest's variance over classes.
    counts:
        ``(N,)`` visits; samples with fewer than 2 are left out.
    usable:
        ``(N, P)`` bool: the probe is outside the sample's slots.
    """
    usable = usable & (counts >= 2)[:, None]
    n = np.maximum(counts, 1).astype(np.float64)[:, None]
    within = np.where(usable, probe_squares - probe_sums ** 2 / n, 0.0).sum()
    total = (spread * usable.sum(1)).sum()
    return float(np.clip(within / total, 0.0, 1.0)) if total > 0 else 0.0


def _order_slots(index: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Per row, the slot order by decreasing mean, equal means by increasing class."""
    order = np.argsort(index, axis=1, kind="stable")
    by_mean = np.argsort(-np.take_along_axis(mean, order, 1), axis=1, kind="stable")
    return np.take_along_axis(order, by_mean, 1)
