"""What the training loop calls, when, and with what: its two kinds of hook, and their checkpoint states.

:func:`reidprune.train.loop.fit` takes ``hooks`` (:class:`TrainingHook`) and ``callbacks``
(:class:`EpochCallback`). Per epoch, in this order:

1. every optimisation step: forward, loss, ``backward``, ``optimizer.step()``, the scheduler's
   step, then for each hook ``hook.update(ids, logits, labels)`` with

   * ``ids``: int64 ``(B,)``, the dataset indices (0..N-1) of the batch's samples, on the
     training device; a P x K batch can hold one index several times (in batch order);
   * ``logits``: ``(B, C)``, the classifier's raw (pre-softmax) outputs of that step's forward
     pass, detached, in the autocast dtype (bf16 under mixed precision on CUDA);
   * ``labels``: int64 ``(B,)``, the labels the step trained on;

2. after the epoch's last step (under ``torchrun``: after the ranks' hook states are merged,
   see :mod:`reidprune.train.distributed`): ``hook.end_epoch()`` for each hook;
3. then ``callback.on_epoch_end(epoch, model)`` for each callback, with the 1-based epoch just
   finished and the model itself (not its DDP / compiled wrapper; restore its train/eval mode
   if you change it). A callback whose ``should_stop`` attribute is true ends training after
   this epoch (an adaptive stop);
4. a checkpoint (when ``fit`` has a checkpoint file; also every ``checkpoint_every`` steps and
   on SIGTERM / Ctrl-C, mid-epoch).

A hook never sees the model, the optimiser or the data loader, so any PyTorch loop (or the
Lightning callback of :mod:`reidprune.dynamics.lightning`) can drive it; ``update`` should not
copy to the host (no ``.item()``), so a step never waits for it.

Checkpoints: every hook and callback that has ``state_dict()`` / ``load_state_dict(state)`` is
saved under a name (:func:`state_names`): its ``name`` attribute when it has a string one, else
its class name and its index among the objects of that class, e.g. ``LogitRecorder[0]``. Under
``torchrun`` a hook also needs ``merge_rules`` (see :mod:`reidprune.train.distributed`).
"""
from __future__ import annotations

from collections import Counter
from typing import Protocol, Sequence, runtime_checkable

import torch

from reidprune.errors import ReidPruneError


@runtime_checkable
class TrainingHook(Protocol):
    """Called every step with the batch's ids, logits and labels, and at every epoch's end."""

    def update(self, ids: torch.Tensor, logits: torch.Tensor,
               labels: torch.Tensor | None = None) -> None: ...

    def end_epoch(self) -> None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class EpochCallback(Protocol):
    """Called after every epoch with the 1-based epoch and the model (e.g. an evaluation pass).

    An optional ``should_stop`` attribute (a bool, read after every ``on_epoch_end``) asks the
    loop to end training there: :func:`reidprune.train.loop.fit` and the Lightning callback
    (:class:`reidprune.dynamics.lightning.RecorderCallback`, through ``trainer.should_stop``) honour it.
    """

    def on_epoch_end(self, epoch: int, model: torch.nn.Module) -> None: ...


def state_names(objects: Sequence) -> list[str]:
    """The checkpoint name of each object: its ``name`` attribute, else ``Class[index within its class]``."""
    seen: Counter[str] = Counter()
    names = []
    for obj in objects:
        explicit = getattr(obj, "name", None)
        if isinstance(explicit, str) and explicit:
            names.append(explicit)
            continue
        cls = type(obj).__name__
        names.append(f"{cls}[{seen[cls]}]")
        seen[cls] += 1
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ReidPruneError(f"two hooks or callbacks share the checkpoint name {repeated[0]!r}; give them "
                             "different `name` attributes")
    return names


def stateful(objects: Sequence) -> list:
    """The objects whose state a checkpoint holds (those with ``state_dict``)."""
    return [obj for obj in objects if hasattr(obj, "state_dict")]


def hook_states(objects: Sequence) -> dict[str, dict]:
    """``{name: state_dict()}`` of every stateful object (see :func:`state_names`)."""
    objects = stateful(objects)
    return {name: obj.state_dict() for name, obj in zip(state_names(objects), objects)}


def load_hook_states(objects: Sequence, saved, where: str) -> None:
    """Give every stateful object its state from ``saved`` (what :func:`hook_states` returned).

    Refuses, naming what differs, unless ``saved`` holds exactly the same names; ``where`` names
    the checkpoint in the message.
    """
    objects = stateful(objects)
    names = state_names(objects)
    if not isinstance(saved, dict):
        raise ReidPruneError(f"{where} was written by an older reidprune that saved hook states by position; "
                             "delete it to start over")
    missing = [name for name in names if name not in saved]
    extra = [name for name in saved if name not in names]
    if missing or extra:
        raise ReidPruneError(
            f"{where} holds the states of {', '.join(saved) or 'no hooks'}, this run has "
            f"{', '.join(names) or 'none'} ("
            + "; ".join(part for part in (f"not in the checkpoint: {', '.join(missing)}" if missing else "",
                                          f"not in this run: {', '.join(extra)}" if extra else "") if part)
            + "); it was written with other score methods or hooks: run the same command as before, or delete it "
              "to start over")
    for name, obj in zip(names, objects):
        obj.load_state_dict(saved[name])
