"""Several processes (``torchrun``, PyTorch DDP): sharding, the model wrapper and hook merging.

Launched with ``torchrun --nproc_per_node N -m reidprune score ...`` every process (rank)
runs the same command. Each epoch the sampler's batches are dealt round-robin: rank r takes
batches r, r + N, r + 2N, ... (the list is padded by wrapping around so that every rank
takes as many steps), so one epoch takes ~1/N of the steps per rank. The model is wrapped
in ``DistributedDataParallel``; each rank's hooks record the samples it trained on and
:class:`HookMerger` combines them at epoch ends (and before a checkpoint) so that every
rank then holds the state a single process would hold.

Hooks declare how their state merges with a ``merge_rules`` attribute (the hooks built on
:class:`reidprune.dynamics.base.StatefulHook` derive it from their ``state_tensors``), a dict
from a tensor attribute name to

* ``"sum"``: additive state (sums, counts); the ranks' increments since the last merge are
  added (``all_reduce``);
* ``"latest"``: per-sample state that a presentation overwrites (forgetting's previous
  correctness, the loss EMA); each sample takes the value of the rank that presented it
  last in the global batch order. A sample is usually presented on one rank per epoch;
  when P x K sampling draws it into batches on two ranks in one epoch (repeats to fill a
  group of K), the later rank's value wins and the earlier rank's presentation counts in
  the sums but not in the chained state. The top-k recorder merges its whole state this
  way (its slots hold different classes on different ranks, so they cannot be added).

A single process (no process group) uses none of this and trains exactly as before.
"""
from __future__ import annotations

import atexit
import os
from typing import Sequence

import numpy as np
import torch
import torch.distributed as dist

from reidprune.errors import ReidPruneError

RULES = ("sum", "latest")


def active() -> bool:
    """True inside an initialised process group of more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if active() else (0, 1)


def is_main() -> bool:
    """True on rank 0 (and in a single process): the rank that writes files."""
    return rank_and_world()[0] == 0


def init_from_env() -> bool:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1).

    Uses NCCL with one GPU per process (``LOCAL_RANK``) when CUDA is available, else gloo.
    Returns whether this process is one of several.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        atexit.register(_leave)  # an undestroyed group can hang the interpreter's exit
    return active()


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def shard_batches(batches: Sequence[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """Rank ``rank``'s batches: every ``world``-th from ``rank``, the list padded by wrapping around.

    The padded list is ``batches + batches[:pad]`` with ``pad = -len(batches) % world``, so
    every rank takes ``ceil(len / world)`` steps and every batch is trained on.
    """
    batches = list(batches)
    pad = -len(batches) % world
    return (batches + batches[:pad])[rank::world]


def wrap_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` when several ranks run, else ``model`` itself."""
    if not active():
        return model
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def average_buffers(model: torch.nn.Module) -> None:
    """Average floating buffers (BatchNorm running statistics) across ranks; others from rank 0.

    DDP broadcasts rank 0's buffers before each forward, but each rank's last forward leaves
    its own running statistics behind: averaging them at epoch ends gives every rank (and the
    checkpoint) one model.
    """
    if not active():
        return
    world = dist.get_world_size()
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer.div_(world)
        else:
            dist.broadcast(buffer, src=0)


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is True on any rank (a stop request, for one)."""
    if not active():
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class HookMerger:
    """Merge the ranks' hook states (see the module docstring for the rules).

    Parameters
    ----------
    hooks:
        The training hooks; each needs a ``merge_rules`` dict.
    num_samples:
        N, the training set's size (ids are 0..N-1).
    device:
        Where the hooks' state lives (the training device).
    """

    def __init__(self, hooks: Sequence, num_samples: int, device: torch.device):
        self.hooks = list(hooks)
        for hook in self.hooks:
            rules = getattr(hook, "merge_rules", None)
            if rules is None or any(rule not in RULES for rule in rules.values()):
                raise ReidPruneError(
                    f"{type(hook).__name__} cannot be merged across ranks (it has no merge_rules); "
                    "run it in a single process")
        self.rank, self.world = rank_and_world()
        self.last_seen = torch.full((num_samples,), -1, dtype=torch.int64, device=device)
        self.baseline = self._sums_snapshot()

    def note(self, ids: torch.Tensor, global_step: int) -> None:
        """Call once per step with the batch's ids and its position in the global batch order."""
        self.last_seen[ids] = global_step  # a Python int: no host synchronisation

    def merge(self) -> None:
        """Combine every rank's state; afterwards all ranks hold the same, merged state."""
        if not active():
            return
        owner = self.last_seen.clone()
        dist.all_reduce(owner, op=dist.ReduceOp.MAX)
        mine = (self.last_seen == owner) & (owner >= 0)
        for hook, baseline in zip(self.hooks, self.baseline):
            for name, rule in hook.merge_rules.items():
                value = getattr(hook, name)
                if rule == "sum":
                    delta = value - baseline[name]
                    dist.all_reduce(delta)
                    value.copy_(baseline[name] + delta)
                else:  # rows past N (a recorder's spare row for repeated ids) are scratch
                    _merge_latest(value[: len(owner)], mine, owner >= 0)
        self.last_seen.fill_(-1)
        self.baseline = self._sums_snapshot()

    def _sums_snapshot(self) -> list[dict[str, torch.Tensor]]:
        return [{name: getattr(hook, name).clone() for name, rule in hook.merge_rules.items() if rule == "sum"}
                for hook in self.hooks]


def _merge_latest(value: torch.Tensor, mine: torch.Tensor, presented: torch.Tensor) -> None:
    """Each presented sample's row from the rank that owns it; other rows are already equal."""
    shape = (-1,) + (1,) * (value.dim() - 1)
    wide = value.to(torch.float64) if value.is_floating_point() else value.to(torch.int64)
    contribution = torch.where(mine.view(shape), wide, torch.zeros_like(wide))
    dist.all_reduce(contribution)
    value.copy_(torch.where(presented.view(shape), contribution, wide).to(value.dtype))
