"""Training-dynamics trackers for the competing scores: forgetting events, AUM and loss EMA.

Every tracker is a :class:`~reidprune.dynamics.base.SampleTracker` (the hook shape of
:mod:`reidprune.dynamics.hooks`): the training loop calls
``update(ids, logits, labels)`` after each forward pass and ``end_epoch()`` after each epoch.
A *presentation* is one appearance of a sample in a batch. State lives as tensors on the
``device`` given at construction (pass the logits' device) and is updated with scatter
operations only: no ``.item()``, no copies to the host and no Python loop over samples, so a
step never waits for the host.

Repeated ids inside one batch (P x K sampling with replacement) are consecutive
presentations in batch order. The order-dependent trackers (forgetting, loss EMA) handle them
exactly: the batch is stably sorted by id, which puts the occurrences of one id next to each
other in batch order, and each occurrence is combined with the one before it in that segment.

Usage::

    forgetting = ForgettingTracker(len(train_set), device="cuda")
    for epoch in range(120):
        for images, labels, ids in loader:
            logits = model(images)
            ...  # loss, backward, step
            forgetting.update(ids, logits, labels)
        forgetting.end_epoch()
    forgets, ever_correct = forgetting.forgets.cpu().numpy(), forgetting.ever_correct.cpu().numpy()
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from reidprune.dynamics.base import SampleTracker
from reidprune.errors import ReidPruneError


class _Segments:
    """A batch's ids stably sorted, with each id's run of occurrences located (all on device).

    Attributes
    ----------
    order:
        Permutation that sorts the batch by id, keeping batch order among equal ids.
    ids:
        The sorted ids.
    follows_same:
        True where the previous sorted element has the same id (not the first occurrence).
    start, end:
        For every sorted element, the sorted position of its id's first and last occurrence.
    """

    def __init__(self, ids: torch.Tensor):
        self.ids, self.order = torch.sort(ids, stable=True)
        size = self.ids.shape[0]
        positions = torch.arange(size, device=ids.device)
        self.follows_same = torch.zeros(size, dtype=torch.bool, device=ids.device)
        self.follows_same[1:] = self.ids[1:] == self.ids[:-1]
        precedes_same = torch.zeros_like(self.follows_same)
        precedes_same[:-1] = self.follows_same[1:]
        # A run starts where the id changes; carry that position forward with a running max.
        self.start = torch.cummax(torch.where(self.follows_same, 0, positions), 0).values
        # A run ends where the next id differs; carry that position backward with a running min.
        run_end = torch.where(precedes_same, size, positions)
        self.end = torch.flip(torch.cummin(torch.flip(run_end, (0,)), 0).values, (0,))
        self.rank = positions - self.start
        self.length = self.end - self.start + 1


class ForgettingTracker(SampleTracker):
    """Count forgetting events per sample (Toneva et al., 2018).

    At every presentation the sample is *correct* when ``argmax(logits) == label``. A
    forgetting event is a presentation that is incorrect while the previous presentation of
    the same sample was correct. The first presentation can never be an event.

    Parameters
    ----------
    num_samples, device, every, start, stop:
        As for :class:`~reidprune.dynamics.base.SampleTracker` (N, the state's device, the epoch
        window). Forgetting counts are defined over a full training run, so the default window
        (every epoch) is the usual one.

    Attributes
    ----------
    forgets:
        int64 (N,): number of forgetting events.
    num_correct:
        int64 (N,): number of correct presentations; ``ever_correct`` is ``num_correct > 0``.
    last_correct:
        bool (N,): whether the latest presentation was correct.
    counts:
        int64 (N,): number of presentations.
    """

    # the state, and how several training processes combine it (reidprune.train.distributed)
    state_tensors = {"forgets": "sum", "num_correct": "sum", "counts": "sum", "last_correct": "latest"}

    def __init__(self, num_samples: int, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        super().__init__(num_samples, device, every, start, stop)
        self.forgets = torch.zeros_like(self.counts)
        self.num_correct = torch.zeros_like(self.counts)
        self.last_correct = torch.zeros_like(self.counts, dtype=torch.bool)

    @property
    def ever_correct(self) -> torch.Tensor:
        """bool (N,): whether the sample was classified correctly at some presentation."""
        return self.num_correct > 0

    def _record(self, ids: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        correct = logits.argmax(1).to(ids.device) == labels.to(ids.device, non_blocking=True)
        seg = _Segments(ids)
        correct = correct[seg.order]
        # The previous presentation of a repeated id is the occurrence just before it in its
        # run; for a run's first occurrence it is the stored state from earlier batches.
        previous = torch.where(seg.follows_same, torch.roll(correct, 1), self.last_correct[seg.ids])
        forgotten = previous & ~correct
        self.forgets.index_add_(0, seg.ids, forgotten.to(torch.int64))
        self.num_correct.index_add_(0, seg.ids, correct.to(torch.int64))
        # Every occurrence writes its run's last value, so duplicate writes agree.
        self.last_correct[seg.ids] = correct[seg.end]


class AUMTracker(SampleTracker):
    """Area under the margin (Pleiss et al., 2020): the mean over presentations of
    ``z_y - max_{j != y} z_j`` computed on the LOGITS z (not on probabilities).

    A low (negative) AUM means the assigned class keeps losing to another class: the sample
    is hard or likely mislabeled. With one presentation per epoch the mean over
    presentations is the paper's mean over epochs; with a P x K sampler it weights each
    epoch by how often the sample was drawn. For the threshold-sample procedure the model
    has C + 1 outputs and the threshold samples carry the fake label C
    (see :func:`reidprune.scores.aum.make_threshold_labels`).

    Parameters
    ----------
    num_samples, device, every, start, stop:
        As for :class:`~reidprune.dynamics.base.SampleTracker` (N, the state's device, the epoch window).

    Attributes
    ----------
    margin_sums:
        float32 (N,): sum of margins over presentations.
    counts:
        int64 (N,): number of presentations.
    """

    # the state, and how several training processes combine it (reidprune.train.distributed)
    state_tensors = {"margin_sums": "sum", "counts": "sum"}

    def __init__(self, num_samples: int, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        super().__init__(num_samples, device, every, start, stop)
        self.margin_sums = torch.zeros_like(self.counts, dtype=torch.float32)

    def _record(self, ids: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        labels = labels.to(ids.device, non_blocking=True).long()
        logits = logits.to(ids.device, torch.float32)
        assigned = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
        others = logits.scatter(1, labels.unsqueeze(1), float("-inf"))
        self.margin_sums.index_add_(0, ids, assigned - others.max(1).values)

    def aum(self) -> torch.Tensor:
        """Mean margin per sample, float64 (N,) on CPU; raises if a sample was never presented."""
        counts = self.presentations()
        return self.margin_sums.cpu().double() / counts.double()


class LossEMATracker(SampleTracker):
    """Exponential moving average of each sample's cross-entropy loss (RoCL, Zhou et al., 2020).

    Per presentation the loss is ``l = cross_entropy(logits, label)`` (plain CE, no label
    smoothing, whatever loss the model trains with) and ``m <- decay * m + (1 - decay) * l``.
    The first presentation initialises ``m = l``: starting from 0 instead would bias samples
    that the P x K sampler draws rarely towards a low loss (and so towards being pruned).

    RoCL (as we recall it; its full text could not be retrieved to check) writes the update
    with the weight on the NEW loss (``a <- g * l + (1 - g) * a`` for the samples selected at
    a step, unchanged otherwise), so its ``g`` is our ``1 - decay``. We could not confirm
    which value of that weight or which initial value RoCL used, and the TMLR paper does not
    state the decay of its "moving average loss" baseline either; we therefore use the conventional
    ``decay = 0.9`` (the newest loss weighs 10%, an effective memory of about 10
    presentations) and the loss-valued initialisation above. Pass ``decay=1 - g`` to
    reproduce another weighting. High EMA loss = hard = kept.

    Parameters
    ----------
    decay:
        Weight of the history, in [0, 1). ``0`` keeps only the latest loss.
    num_samples, device, every, start, stop:
        As for :class:`~reidprune.dynamics.base.SampleTracker` (N, the state's device, the epoch window).

    Attributes
    ----------
    ema:
        float32 (N,): the moving average (0 for samples not presented yet).
    counts:
        int64 (N,): number of presentations.
    """

    # the state, and how several training processes combine it (reidprune.train.distributed)
    state_tensors = {"ema": "latest", "counts": "sum"}

    def __init__(self, num_samples: int, decay: float = 0.9, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        super().__init__(num_samples, device, every, start, stop)
        if not 0.0 <= decay < 1.0:
            raise ReidPruneError(f"decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.ema = torch.zeros_like(self.counts, dtype=torch.float32)

    def _record(self, ids: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        loss = F.cross_entropy(logits.to(ids.device, torch.float32),
                               labels.to(ids.device, non_blocking=True).long(), reduction="none")
        seg = _Segments(ids)
        loss = loss[seg.order]
        # r consecutive updates of one id unroll to
        #   m_r = d^r m_0 + (1 - d) * sum_k d^(r-1-k) l_k   (k = 0..r-1, batch order),
        # and a first-ever presentation starts from m_0 = l_0, which gives m_1 = l_0.
        seen = self.counts[seg.ids] > 0  # counts still hold the presentations before this batch
        start_value = torch.where(seen, self.ema[seg.ids], loss[seg.start])
        # A Python-float base keeps the decay a kernel argument (no host-to-device copy).
        weights = (1.0 - self.decay) * torch.pow(self.decay, seg.length - 1 - seg.rank)
        carried = torch.pow(self.decay, seg.length) * start_value
        terms = weights * loss + torch.where(seg.follows_same, 0.0, carried)
        self.ema.index_fill_(0, seg.ids, 0.0)
        self.ema.index_add_(0, seg.ids, terms)

    def ema_loss(self) -> torch.Tensor:
        """The moving-average loss, float64 (N,) on CPU; raises if a sample was never presented."""
        self.presentations()
        return self.ema.cpu().double()

    def extra_state(self) -> dict:
        return {**super().extra_state(), "decay": self.decay}

    def load_extra_state(self, state: dict) -> None:
        if "decay" in state and float(state["decay"]) != self.decay:
            raise ReidPruneError(
                f"tracker state was saved with decay={state['decay']}, this tracker has "
                f"decay={self.decay}; build it with the same decay")
        super().load_extra_state(state)
