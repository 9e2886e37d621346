"""The shared base of the training-dynamics hooks: an epoch window, named state tensors, counts.

The loop's protocols (what it calls, when, with what) are in :mod:`reidprune.dynamics.hooks`;
:class:`TrainingHook` is re-exported here.

Trackers keep their state as tensors on the logits' device and update it with scatter
operations (``index_add_``), so a step never waits for the host. Each declares its state
tensors by name (:class:`StatefulHook`): that one declaration drives ``state_dict`` /
``load_state_dict`` (a checkpoint resumes them exactly) and ``merge_rules`` (how several
training processes combine them, :mod:`reidprune.train.distributed`).
"""
from __future__ import annotations

import abc

import torch

from reidprune.dynamics.hooks import TrainingHook  # noqa: F401 - re-exported
from reidprune.errors import ReidPruneError


class EpochWindow:
    """Which epochs (1-based) a tracker accumulates in.

    ``every=k`` accumulates in epochs k, 2k, 3k, ... (the paper's "every 4 epochs" uses
    epochs 4, 8, 12); ``start``/``stop`` bound the window (inclusive). ``every=T`` with
    ``stop=T`` is "only the last epoch".
    """

    def __init__(self, every: int = 1, start: int = 1, stop: int | None = None):
        if every < 1:
            raise ReidPruneError(f"every must be >= 1 epoch, got {every}")
        if start < 1 or (stop is not None and stop < start):
            raise ReidPruneError(f"invalid epoch window start={start}, stop={stop}")
        self.every, self.start, self.stop = every, start, stop
        self.epoch = 1  # the epoch now running

    def active(self) -> bool:
        e = self.epoch
        return e >= self.start and (self.stop is None or e <= self.stop) and e % self.every == 0

    def advance(self) -> None:
        self.epoch += 1

    def state_dict(self) -> dict:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])


def check_batch(ids: torch.Tensor, logits: torch.Tensor, num_samples: int, num_classes: int,
                labels: torch.Tensor | None = None) -> None:
    """Shape checks that cost no host synchronisation (values are checked on finalise)."""
    if ids.dim() != 1 or logits.dim() != 2 or logits.shape[0] != ids.shape[0]:
        raise ReidPruneError(
            f"expected ids of shape (B,) and logits of shape (B, C); got {tuple(ids.shape)} "
            f"and {tuple(logits.shape)}")
    if logits.shape[1] != num_classes:
        raise ReidPruneError(
            f"logits have {logits.shape[1]} classes but the tracker was built for {num_classes}")
    if labels is not None and labels.shape != ids.shape:
        raise ReidPruneError(f"labels shape {tuple(labels.shape)} does not match ids {tuple(ids.shape)}")


class StatefulHook:
    """A hook whose state is a few named tensor attributes.

    Subclasses set ``state_tensors``, a dict from each state tensor's attribute name to how
    several training processes merge it (``"sum"`` or ``"latest"``, see
    :mod:`reidprune.train.distributed`). ``state_dict()`` holds a CPU copy of each, plus
    :meth:`extra_state`; ``load_state_dict`` checks every tensor is there with this hook's
    shape before copying it in.
    """

    state_tensors: dict[str, str] = {}

    @property
    def merge_rules(self) -> dict[str, str]:
        """How each state tensor merges across ranks (read by :class:`~reidprune.train.distributed.HookMerger`)."""
        return dict(self.state_tensors)

    def extra_state(self) -> dict:
        """State besides the tensors (settings, histories), saved beside them."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore (or check) what :meth:`extra_state` saved; called before the tensors are loaded."""

    def state_dict(self) -> dict:
        state = {name: getattr(self, name).cpu().clone() for name in self.state_tensors}
        state.update(self.extra_state())
        return state

    def load_state_dict(self, state: dict) -> None:
        what = type(self).__name__
        for name in self.state_tensors:
            if name not in state:
                raise ReidPruneError(f"{what} state has no '{name}'; pass a state_dict() of the same kind of hook")
            target, value = getattr(self, name), state[name]
            if tuple(value.shape) != tuple(target.shape):
                raise ReidPruneError(
                    f"{what} state '{name}' has shape {tuple(value.shape)}, expected {tuple(target.shape)}; "
                    "was it saved for a different number of samples or classes?")
        self.load_extra_state(state)
        for name in self.state_tensors:
            getattr(self, name).copy_(state[name])


class SampleTracker(StatefulHook, abc.ABC):
    """Base of the per-sample hooks (the logit recorder, forgetting, AUM, loss EMA).

    It keeps the epoch window, the presentation count per sample (``counts``, int64 (N,),
    which every subclass lists in ``state_tensors`` as ``"sum"``) and the window in the
    checkpoint state. ``update`` skips epochs outside the window, checks the batch's shapes
    (no host synchronisation), calls the subclass's ``_record(ids, logits, labels)`` with the
    ids on the state's device and detached logits, then counts the presentations.

    Parameters
    ----------
    num_samples:
        N, the size of the training set (ids are 0..N-1).
    device:
        Where the state lives; pass the logits' device.
    every, start, stop:
        Epoch window (see :class:`EpochWindow`).
    """

    needs_labels = True  # the recorder alone records without labels
    num_classes: int | None = None  # None: whatever the logits have (at least 2)
    visit_word = "presented"  # for the "samples were never presented" error

    def __init__(self, num_samples: int, device: str | torch.device = "cpu",
                 every: int = 1, start: int = 1, stop: int | None = None):
        if num_samples < 1:
            raise ReidPruneError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples
        self.window = EpochWindow(every, start, stop)
        self.counts = torch.zeros(num_samples, dtype=torch.int64, device=device)

    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None:
        """Record one batch: ``ids`` (B,), ``logits`` (B, C) and, for trackers, ``labels`` (B,)."""
        if not self.window.active():
            return
        self._check(ids, logits, labels)
        ids = ids.to(self.counts.device, non_blocking=True)
        self._record(ids, logits.detach(), labels)
        self.counts.index_add_(0, ids, torch.ones_like(ids, dtype=torch.int64))

    @abc.abstractmethod
    def _record(self, ids: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor | None) -> None:
        """Add one batch to the subclass's state (``logits`` detached, ``ids`` on the state's device)."""

    def _check(self, ids: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor | None) -> None:
        if not self.needs_labels:
            check_batch(ids, logits, self.num_samples, self.num_classes)
            return
        if labels is None:
            raise ReidPruneError("this tracker needs the training labels: call update(ids, logits, labels)")
        if logits.dim() == 2 and logits.shape[1] < 2:
            raise ReidPruneError(f"logits need at least 2 classes, got shape {tuple(logits.shape)}")
        check_batch(ids, logits, self.num_samples, logits.shape[1] if logits.dim() == 2 else -1, labels)

    def end_epoch(self) -> None:
        self.window.advance()

    def close_window(self, epoch: int) -> None:
        """Accumulate no epoch after ``epoch`` (an adaptive stop ended the window there)."""
        self.window.stop = max(self.window.start, int(epoch))

    def presentations(self, allow_missing: bool = False) -> torch.Tensor:
        """Visits per sample, int64 (N,) on the CPU; raises when a sample has none (unless ``allow_missing``)."""
        counts = self.counts.cpu()
        missing = torch.nonzero(counts == 0).flatten()
        if len(missing) and not allow_missing:
            raise ReidPruneError(
                f"{len(missing)} of {self.num_samples} samples were never {self.visit_word} (first: index "
                f"{missing[0].item()}); train for more epochs or use a sampler that visits every sample")
        return counts

    def extra_state(self) -> dict:
        return {"window": self.window.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        self.window.load_state_dict(state["window"])
