"""The hook shape every training-dynamics tracker shares.

A training loop calls, for every optimisation step,
``hook.update(ids, logits, labels)`` with the dataset indices of the batch, the raw
classifier outputs (pre-softmax) and the labels trained on, and ``hook.end_epoch()``
after every epoch. Nothing else: a hook never sees the model, the optimiser or the data
loader, so any PyTorch loop can drive it.

Trackers keep their state as tensors on the logits' device and update it with scatter
operations (``index_add_``), so a step never waits for the host. ``state_dict`` /
``load_state_dict`` let a checkpoint resume them exactly.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from reidprune.errors import ReidPruneError


@runtime_checkable
class TrainingHook(Protocol):
    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None: ...

    def end_epoch(self) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


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
