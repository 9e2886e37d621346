"""Training-dynamics trackers for the competing scores: forgetting events, AUM and loss EMA.

Every tracker has the hook shape of :mod:`reidprune.dynamics.base`: the training loop calls
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

from reidprune.dynamics.base import EpochWindow, check_batch
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


def _check_labelled_batch(ids: torch.Tensor, logits: torch.Tensor,
                          labels: torch.Tensor | None, num_samples: int) -> None:
    if labels is None:
        raise ReidPruneError("this tracker needs the training labels: call update(ids, logits, labels)")
    if logits.dim() == 2 and logits.shape[1] < 2:
        raise ReidPruneError(f"logits need at least 2 classes, got shape {tuple(logits.shape)}")
    check_batch(ids, logits, num_samples, logits.shape[1] if logits.dim() == 2 else -1, labels)


def _check_num_samples(num_samples: int) -> None:
    if num_samples < 1:
        raise ReidPruneError(f"num_samples must be >= 1, got {num_samples}")


def _load_tensor(target: torch.Tensor, state: dict, key: str) -> None:
    if key not in state:
        raise ReidPruneError(f"tracker state has no '{key}'; pass a state_dict() of the same tracker")
    value = state[key]
    if tuple(value.shape) != tuple(target.shape):
        raise ReidPruneError(
            f"tracker state '{key}' has shape {tuple(value.shape)}, expected {tuple(target.shape)}; "
            "was it saved for a different number of samples?")
    target.copy_(value)


class ForgettingTracker:
    """Count forgetting events per sample (Toneva et al., 2018).

    At every presentation the sample is *correct* when ``argmax(logits) == label``. A
    forgetting event is a presentation that is incorrect while the previous presentation of
    the same sample was correct. The first presentation can never be an event.

    Parameters
    ----------
    num_samples:
        N, the size of the training set (ids are 0..N-1).
    device:
        Where the state lives; pass the logits' device.
    every, start, stop:
        Epoch window (see :class:`~reidprune.dynamics.base.EpochWindow`). Forgetting counts
        are defined over a full training run, so the default (every epoch) is the usual one.

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

    # how several training processes combine their states (reidprune.train.distributed)
    merge_rules = {"forgets": "sum", "num_correct": "sum", "counts": "sum", "last_correct": "latest"}

    def __init__(self, num_samples: int, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        _check_num_samples(num_samples)
        self.num_samples = num_samples
        self.window = EpochWindow(every, start, stop)
        self.forgets = torch.zeros(num_samples, dtype=torch.int64, device=device)
        self.num_correct = torch.zeros(num_samples, dtype=torch.int64, device=device)
        self.last_correct = torch.zeros(num_samples, dtype=torch.bool, device=device)
        self.counts = torch.zeros(num_samples, dtype=torch.int64, device=device)

    @property
    def ever_correct(self) -> torch.Tensor:
        """bool (N,): whether the sample was classified correctly at some presentation."""
        return self.num_correct > 0

    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None:
        """Record one batch: ``ids`` (B,), ``logits`` (B, C), ``labels`` (B,)."""
        if not self.window.active():
            return
        _check_labelled_batch(ids, logits, labels, self.num_samples)
        device = self.forgets.device
        ids = ids.to(device, non_blocking=True)
        correct = logits.detach().argmax(1).to(device) == labels.to(device, non_blocking=True)
        seg = _Segments(ids)
        correct = correct[seg.order]
        # The previous presentation of a repeated id is the occurrence just before it in its
        # run; for a run's first occurrence it is the stored state from earlier batches.
        previous = torch.where(seg.follows_same, torch.roll(correct, 1), self.last_correct[seg.ids])
        forgotten = previous & ~correct
        self.forgets.index_add_(0, seg.ids, forgotten.to(torch.int64))
        self.num_correct.index_add_(0, seg.ids, correct.to(torch.int64))
        self.counts.index_add_(0, seg.ids, torch.ones_like(seg.ids))
        # Every occurrence writes its run's last value, so duplicate writes agree.
        self.last_correct[seg.ids] = correct[seg.end]

    def end_epoch(self) -> None:
        self.window.advance()

    def state_dict(self) -> dict:
        return {"forgets": self.forgets.cpu().clone(), "num_correct": self.num_correct.cpu().clone(),
                "last_correct": self.last_correct.cpu().clone(), "counts": self.counts.cpu().clone(),
                "window": self.window.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for key in ("forgets", "num_correct", "last_correct", "counts"):
            _load_tensor(getattr(self, key), state, key)
        self.window.load_state_dict(state["window"])


class AUMTracker:
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
    num_samples:
        N, the size of the training set (ids are 0..N-1).
    device:
        Where the state lives; pass the logits' device.
    every, start, stop:
        Epoch window (see :class:`~reidprune.dynamics.base.EpochWindow`).

    Attributes
    ----------
    margin_sums:
        float32 (N,): sum of margins over presentations.
    counts:
        int64 (N,): number of presentations.
    """

    # how several training processes combine their states (reidprune.train.distributed)
    merge_rules = {"margin_sums": "sum", "counts": "sum"}

    def __init__(self, num_samples: int, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        _check_num_samples(num_samples)
        self.num_samples = num_samples
        self.window = EpochWindow(every, start, stop)
        self.margin_sums = torch.zeros(num_samples, dtype=torch.float32, device=device)
        self.counts = torch.zeros(num_samples, dtype=torch.int64, device=device)

    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None:
        """Record one batch: ``ids`` (B,), ``logits`` (B, C), ``labels`` (B,)."""
        if not self.window.active():
            return
        _check_labelled_batch(ids, logits, labels, self.num_samples)
        device = self.margin_sums.device
        ids = ids.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True).long()
        logits = logits.detach().to(device, torch.float32)
        assigned = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
        others = logits.scatter(1, labels.unsqueeze(1), float("-inf"))
        self.margin_sums.index_add_(0, ids, assigned - others.max(1).values)
        self.counts.index_add_(0, ids, torch.ones_like(ids))

    def end_epoch(self) -> None:
        self.window.advance()

    def aum(self) -> torch.Tensor:
        """Mean margin per sample, float64 (N,) on CPU; raises if a sample was never presented."""
        counts = self.counts.cpu()
        missing = torch.nonzero(counts == 0).flatten()
        if len(missing):
            raise ReidPruneError(
                f"{len(missing)} of {self.num_samples} samples were never presented (first: index "
                f"{missing[0].item()}); train for more epochs or use a sampler that visits every sample")
        return self.margin_sums.cpu().double() / counts.double()

    def state_dict(self) -> dict:
        return {"margin_sums": self.margin_sums.cpu().clone(), "counts": self.counts.cpu().clone(),
                "window": self.window.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for key in ("margin_sums", "counts"):
            _load_tensor(getattr(self, key), state, key)
        self.window.load_state_dict(state["window"])


class LossEMATracker:
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
    num_samples:
        N, the size of the training set (ids are 0..N-1).
    decay:
        Weight of the history, in [0, 1). ``0`` keeps only the latest loss.
    device:
        Where the state lives; pass the logits' device.
    every, start, stop:
        Epoch window (see :class:`~reidprune.dynamics.base.EpochWindow`).

    Attributes
    ----------
    ema:
        float32 (N,): the moving average (0 for samples not presented yet).
    counts:
        int64 (N,): number of presentations.
    """

    # how several training processes combine their states (reidprune.train.distributed)
    merge_rules = {"ema": "latest", "counts": "sum"}

    def __init__(self, num_samples: int, decay: float = 0.9, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        _check_num_samples(num_samples)
        if not 0.0 <= decay < 1.0:
            raise ReidPruneError(f"decay must be in [0, 1), got {decay}")
        self.num_samples, self.decay = num_samples, float(decay)
        self.window = EpochWindow(every, start, stop)
        self.ema = torch.zeros(num_samples, dtype=torch.float32, device=device)
        self.counts = torch.zeros(num_samples, dtype=torch.int64, device=device)

    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None:
        """Record one batch: ``ids`` (B,), ``logits`` (B, C), ``labels`` (B,)."""
        if not self.window.active():
            return
        _check_labelled_batch(ids, logits, labels, self.num_samples)
        device = self.ema.device
        ids = ids.to(device, non_blocking=True)
        loss = F.cross_entropy(logits.detach().to(device, torch.float32),
                               labels.to(device, non_blocking=True).long(), reduction="none")
        seg = _Segments(ids)
        loss = loss[seg.order]
        # r consecutive updates of one id unroll to
        #   m_r = d^r m_0 + (1 - d) * sum_k d^(r-1-k) l_k   (k = 0..r-1, batch order),
        # and a first-ever presentation starts from m_0 = l_0, which gives m_1 = l_0.
        seen = self.counts[seg.ids] > 0
        start_value = torch.where(seen, self.ema[seg.ids], loss[seg.start])
        # A Python-float base keeps the decay a kernel argument (no host-to-device copy).
        weights = (1.0 - self.decay) * torch.pow(self.decay, seg.length - 1 - seg.rank)
        carried = torch.pow(self.decay, seg.length) * start_value
        terms = weights * loss + torch.where(seg.follows_same, 0.0, carried)
        self.ema.index_fill_(0, seg.ids, 0.0)
        self.ema.index_add_(0, seg.ids, terms)
        self.counts.index_add_(0, seg.ids, torch.ones_like(seg.ids))

    def end_epoch(self) -> None:
        self.window.advance()

    def ema_loss(self) -> torch.Tensor:
        """The moving-average loss, float64 (N,) on CPU; raises if a sample was never presented."""
        counts = self.counts.cpu()
        missing = torch.nonzero(counts == 0).flatten()
        if len(missing):
            raise ReidPruneError(
                f"{len(missing)} of {self.num_samples} samples were never presented (first: index "
                f"{missing[0].item()}); train for more epochs or use a sampler that visits every sample")
        return self.ema.cpu().double()

    def state_dict(self) -> dict:
        return {"ema": self.ema.cpu().clone(), "counts": self.counts.cpu().clone(),
                "decay": self.decay, "window": self.window.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "decay" in state and float(state["decay"]) != self.decay:
            raise ReidPruneError(
                f"tracker state was saved with decay={state['decay']}, this tracker has "
                f"decay={self.decay}; build it with the same decay")
        for key in ("ema", "counts"):
            _load_tensor(getattr(self, key), state, key)
        self.window.load_state_dict(state["window"])
