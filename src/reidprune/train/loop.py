"""One short training loop. It knows nothing about scores: it calls hooks.

Per step: augment -> forward -> loss -> backward -> step -> ``hook.update(ids, logits, labels)``.
Per epoch: ``hook.end_epoch()``, then ``callback.on_epoch_end(epoch, model)`` (for scores that
need the model itself, e.g. EL2N's evaluation pass), then a checkpoint. A callback whose
``should_stop`` attribute becomes true ends training after that epoch (an adaptive stop).
The two protocols, and what exactly the loop passes them, are in :mod:`reidprune.dynamics.hooks`
(``TrainingHook`` and ``EpochCallback`` are re-exported here).

Batches come from :class:`~reidprune.train.batches.BatchSource` (RAM, the memory-mapped image
cache, or the GPU) and are augmented on the training device. Under ``torchrun`` each rank takes
its share of the batches and the hooks are merged at epoch ends
(:mod:`reidprune.train.distributed`); a single process does neither.
"""
from __future__ import annotations

import contextlib
import logging
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from reidprune.dynamics.hooks import EpochCallback, TrainingHook, hook_states, load_hook_states
from reidprune.errors import ReidPruneError, TrainingInterrupted  # noqa: F401 - re-exported
from reidprune.models.losses import batch_hard_triplet, cross_entropy
from reidprune.train import distributed
from reidprune.progress import progress as progress_bar
from reidprune.train.augment import augment, normalize, step_generator
from reidprune.train.batches import BatchSource
from reidprune.train.checkpoint import load_checkpoint, save_checkpoint
from reidprune.train.config import TrainConfig
from reidprune.train.sampler import IdentitySampler, ShuffleSampler


log = logging.getLogger("reidprune")


class NonFiniteLoss(ReidPruneError):
    pass


@dataclass
class FitResult:
    epochs: int  # epochs trained (fewer than configured after an adaptive stop)
    iterations: int  # optimizer steps in all, those before a resume included
    seconds: float  # wall time of the training, summed over the sessions a resume joined
    losses: list[float] = field(default_factory=list)  # mean loss per epoch
    resumed_from: tuple[int, int] | None = None  # (epoch, step) a checkpoint resumed from


def resolve_device(name: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` as a device this machine has, else a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ReidPruneError(f"unknown device {name!r}; use auto, cpu or cuda[:N]") from exc
    if device.type not in ("cpu", "cuda"):
        raise ReidPruneError(f"device {name!r} is not supported; use auto, cpu or cuda[:N]")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ReidPruneError(f"device {name!r} asked for but no CUDA GPU is available; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ReidPruneError(f"device {name!r} asked for but this machine has {torch.cuda.device_count()} CUDA "
                             f"GPU(s) (cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return device


def make_sampler(labels: np.ndarray, config: TrainConfig):
    if config.mode == "reid":
        return IdentitySampler(labels, config.batch_size, config.instances, config.seed)
    return ShuffleSampler(len(labels), config.batch_size, config.seed)


def make_optimizer(model: torch.nn.Module, config: TrainConfig, iters_per_epoch: int):
    """Adam and its per-iteration schedule: linear warm-up times steps of ``gamma`` at the milestones.

    The learning rate at iteration ``it`` is ``lr * warm(it) * gamma ** (milestones passed)``,
    with ``warm`` rising linearly from ``warmup_factor`` to 1 over ``warmup_iters`` (FastReID's
    schedule). Both factors apply at once (a milestone inside the warm-up scales it too), so
    torch's ``LinearLR`` and ``MultiStepLR`` are chained (multiplied), not run one after the other.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler
    steps = [schedule.LinearLR(optimizer, config.warmup_factor, 1.0, config.warmup_iters)] \
        if config.warmup_iters else []
    steps.append(schedule.MultiStepLR(optimizer, [m * iters_per_epoch for m in config.milestones], config.gamma))
    return optimizer, schedule.ChainedScheduler(steps, optimizer)


def fit(model: torch.nn.Module, images, labels: np.ndarray, config: TrainConfig,
        hooks: Sequence[TrainingHook] = (), callbacks: Sequence[EpochCallback] = (),
        checkpoint: str | Path | None = None, run_key: str = "", progress: bool = True,
        checkpoint_every: int = 0, settings: dict | None = None, pruner=None) -> FitResult:
    """Train ``model`` on uint8 ``images`` (N x 3 x H x W) with integer ``labels`` (N,).

    Parameters
    ----------
    images:
        A uint8 tensor (in RAM, memory-mapped from the image cache, or already on the
        device) or an :class:`~reidprune.data.cache.ImageRows`; only each step's rows are read.
    hooks:
        Training-dynamics trackers, called every step with the batch's dataset indices.
    callbacks:
        Objects with ``on_epoch_end(epoch, model)``, called after every epoch (1-based).
    checkpoint:
        File for an atomic checkpoint after every epoch, every ``checkpoint_every`` steps (0 =
        only at epoch ends) and on SIGTERM / Ctrl-C. If it exists, training resumes from it,
        provided it was written by a run with the same ``run_key`` (and as many ranks).
        Under ``torchrun`` rank 0 writes it and every rank resumes from it.
    settings:
        What ``run_key`` was made from (default: ``config`` as a dict), stored in the checkpoint
        so a refused checkpoint can name the setting that differs.
    pruner:
        Dynamic pruning (:class:`~reidprune.dynamics.dynamic_pruning.DynamicPruner`): its
        ``plan(epoch, epochs)`` gives each epoch's active samples and loss weights; the schedule
        still counts the full set's iterations per epoch.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels):
        raise ReidPruneError(f"{len(images)} images but {len(labels)} labels")
    _check_labels(model, labels)
    device = resolve_device(config.device)
    rank, world = distributed.rank_and_world()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
    torch.manual_seed(config.seed)
    model.to(device)
    channels_last = config.channels_last and device.type == "cuda"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    sampler = make_sampler(labels, config)
    steps_per_epoch = len(distributed.shard_batches(range(len(sampler)), rank, world))
    optimizer, scheduler = make_optimizer(model, config, steps_per_epoch)
    label_t = torch.as_tensor(labels).to(device)
    settings = _plain_settings(config.as_dict() if settings is None else settings)
    state = _TrainState(model, optimizer, scheduler, hooks, [*callbacks, *([pruner] if pruner else [])], settings,
                        world)
    result = FitResult(config.epochs, 0, 0.0)
    start_epoch, start_step = 1, 0
    if checkpoint is not None and (saved := load_checkpoint(checkpoint)) is not None:
        if saved.get("run_key") != run_key:
            raise ReidPruneError(
                f"checkpoint {checkpoint} belongs to a different run: "
                f"{describe_difference(saved.get('settings'), settings)}; run the same command as before to "
                "resume it, or delete it (or choose another output folder) to start over")
        start_epoch, start_step = state.load(saved, f"checkpoint {checkpoint}")
        result.resumed_from = (start_epoch, start_step)
        result.iterations, result.seconds = int(saved.get("iterations", 0)), float(saved.get("seconds", 0.0))
        log.info("resuming from epoch %d, step %d (checkpoint %s)", start_epoch, start_step, checkpoint)
    result.epochs = start_epoch - 1
    merger = distributed.HookMerger(hooks, len(labels), device) if distributed.active() else None
    net = distributed.wrap_model(model, device)
    if config.compile:
        net = torch.compile(net)
    source = BatchSource(images, device)
    divergence = _Divergence(config, checkpoint)

    def save(epoch: int, step: int) -> None:
        """Merge the ranks' hooks (a no-op in one process), then rank 0 writes the checkpoint."""
        if merger is not None:
            merger.merge()
        distributed.average_buffers(model)
        if checkpoint is not None and rank == 0:
            save_checkpoint(checkpoint, state.dump(epoch, step, run_key, result.iterations,
                                                   result.seconds + time.perf_counter() - began))
        distributed.barrier()  # no rank reads the checkpoint before rank 0 has written it

    began = time.perf_counter()
    with _catch_signals() as stop:
        for epoch in range(start_epoch, config.epochs + 1):
            if _stop_requested(callbacks):  # resumed after an adaptive stop
                break
            active, weights = (None, None) if pruner is None else pruner.plan(epoch, config.epochs)
            batches = distributed.shard_batches(_epoch_batches(sampler, labels, config, epoch, active), rank, world)
            weight_t = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
            first = start_step if epoch == start_epoch else 0
            model.train()
            loss_sum = torch.zeros((), device=device)
            bar = progress_bar(desc=f"epoch {epoch}/{config.epochs}", total=len(batches) - first,
                               enabled=progress and rank == 0)
            for step, (idx, pixels) in enumerate(source.iterate(batches[first:]), start=first):
                global_step = step * world + rank  # the batch's position in the sampler's order
                x = augment(pixels, config.augment, step_generator(config.seed, epoch, global_step))
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                y = label_t[idx]
                out = _forward(net, x, config, device)
                loss = _loss(out, y, config, None if weight_t is None else weight_t[idx])
                divergence.check(out[0], loss, epoch, step, device)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                for hook in hooks:
                    hook.update(idx, out[0].detach(), y)
                if merger is not None:
                    merger.note(idx, global_step)
                loss_sum += loss.detach()
                result.iterations += 1
                bar.update(1)
                if _stop_now(stop, step, device):
                    save(epoch, step + 1)
                    raise TrainingInterrupted(
                        f"interrupted at epoch {epoch}, step {step + 1}"
                        + (f"; checkpoint saved to {checkpoint}, run the same command to resume"
                           if checkpoint is not None else ""))
                if checkpoint_every and (step + 1) % checkpoint_every == 0:
                    save(epoch, step + 1)
            for _ in range(steps_per_epoch - len(batches)):  # a dynamically pruned epoch: keep the schedule
                scheduler.step()
            result.losses.append(float(loss_sum) / max(1, len(batches) - first))
            bar.set_postfix(loss=result.losses[-1])
            bar.close()
            if merger is not None:
                merger.merge()  # every rank's hooks hold the whole epoch before it ends
            for hook in hooks:
                hook.end_epoch()
            for callback in callbacks:
                callback.on_epoch_end(epoch, model)
            result.epochs = epoch
            save(epoch + 1, 0)  # its merge finds nothing new
            if _stop_requested(callbacks):
                break
    result.seconds += time.perf_counter() - began
    return result


def _stop_now(stop, step: int, device: torch.device) -> bool:
    """Whether a SIGTERM / Ctrl-C asks to stop; with several ranks, all stop at the same step."""
    if not distributed.active():
        return stop.requested
    # Agreeing costs a collective and a host sync: on CUDA ask every 50 steps only.
    if device.type == "cuda" and step % 50:
        return False
    return distributed.any_rank(stop.requested, device)
def _plain_settings(settings: dict) -> dict:
    """Settings flattened to ``{"a.b": str}``: what ``torch.load(weights_only=True)`` reads back."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        else:
            flat[prefix] = repr(value.tolist() if hasattr(value, "tolist") else value)

    walk("", settings)
    return flat


def describe_difference(saved: dict | None, current: dict | None) -> str:
    """Which settings differ between a checkpoint and this run (both as :func:`_plain_settings` made them)."""
    if not saved:
        return "it was written by an older reidprune that did not record its settings"
    current = current or {}
    names = sorted(set(saved) | set(current))
    changed = [f"{name} was {saved.get(name, 'unset')}, now {current.get(name, 'unset')}"
               for name in names if saved.get(name) != current.get(name)]
    if not changed:
        return "same settings but other training data (images or labels changed)"
    return "; ".join(changed[:4]) + (f" (and {len(changed) - 4} more)" if len(changed) > 4 else "")


def _stop_requested(callbacks) -> bool:
    return any(getattr(callback, "should_stop", False) for callback in callbacks)


def _check_labels(model: torch.nn.Module, labels: np.ndarray) -> None:
    classifier = getattr(model, "classifier", None)
    classes = getattr(classifier, "out_features", None)
    if len(labels) == 0:
        raise ReidPruneError("nothing to train on: the training set is empty")
    if labels.min() < 0 or (classes is not None and labels.max() >= classes):
        raise ReidPruneError(
            f"training labels must lie in 0..{(classes or 0) - 1}, got {labels.min()}..{labels.max()}; "
            "relabel identities to 0..C-1 (the dataset loaders do this)")


def _forward(model, x, config: TrainConfig, device: torch.device):
    if config.amp and device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return model(x)
    return model(x)


def _epoch_batches(sampler, labels: np.ndarray, config: TrainConfig, epoch: int,
                   active: np.ndarray | None) -> list[np.ndarray]:
    """The epoch's batches of dataset indices; with ``active``, drawn from those samples only."""
    if active is None:
        return sampler.batches(epoch)
    return [active[b] for b in make_sampler(labels[active], config).batches(epoch)]


def _loss(out, labels: torch.Tensor, config: TrainConfig, weights: torch.Tensor | None = None) -> torch.Tensor:
    logits = out[0]
    if config.mode == "classify":
        return cross_entropy(logits, labels, config.label_smoothing if config.label_smoothing else 0.0, weights)
    ce = cross_entropy(logits, labels, config.label_smoothing, weights)
    return ce + config.triplet_weight * batch_hard_triplet(out[1], labels, config.triplet_margin,
                                                        config.triplet_normalize)


#: a loss this many times the run's first is a divergence, not a hard batch
DIVERGED_FACTOR = 100.0


class _Divergence:
    """Stops training whose loss is not finite or grows by orders of magnitude over its first."""

    def __init__(self, config: TrainConfig, checkpoint):
        self.first: float | None = None
        self.lr, self.checkpoint = config.lr, checkpoint

    def check(self, logits, loss, epoch: int, step: int, device: torch.device) -> None:
        # On CUDA this would synchronise every step; check every 50 steps there.
        if device.type == "cuda" and step % 50 and self.first is not None:
            return
        value = float(loss.detach())
        if not (math.isfinite(value) and torch.isfinite(logits).all()):
            self.fail(f"non-finite logits or loss at epoch {epoch}, step {step}")
        if self.first is None:  # at least chance's loss: a resumed, well-fitted run may start near 0
            self.first = max(value, math.log(max(2, logits.shape[-1])))
        elif value > DIVERGED_FACTOR * self.first:
            self.fail(f"the loss grew from {self.first:.3g} to {value:.3g} by epoch {epoch}, step {step}: "
                      "training diverged")

    def fail(self, what: str) -> None:
        kept = f"; the checkpoint of the last finished epoch is kept at {self.checkpoint}" \
            if self.checkpoint is not None and Path(self.checkpoint).exists() else ""
        raise NonFiniteLoss(f"{what}; lower the learning rate (--lr, now {self.lr:g}) or disable mixed precision "
                            f"(--no-amp); no scores were written{kept}")


# What a checkpoint's layout is; 2: ResNet trunks under torchvision's module names, torch's chained lr
# schedulers, hook states by name. An older checkpoint is refused with a clear message.
CHECKPOINT_FORMAT = 2


class _TrainState:
    """Everything a checkpoint must hold to resume exactly."""

    def __init__(self, model, optimizer, scheduler, hooks, callbacks, settings: dict | None = None,
                 world: int = 1):
        self.model, self.optimizer, self.scheduler, self.world = model, optimizer, scheduler, world
        self.settings = settings or {}
        self.stateful = list(hooks) + list(callbacks)  # those with a state_dict are saved, by name

    def dump(self, epoch: int, step: int, run_key: str, iterations: int = 0, seconds: float = 0.0) -> dict:
        state = {
            "format": CHECKPOINT_FORMAT, "run_key": run_key, "settings": self.settings,
            "epoch": epoch, "step": step, "world": self.world, "iterations": iterations, "seconds": seconds,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "trackers": hook_states(self.stateful),
            "torch_rng": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def load(self, state: dict, where: str = "the checkpoint") -> tuple[int, int]:
        if int(state.get("format", 1)) != CHECKPOINT_FORMAT:
            raise ReidPruneError(
                f"{where} was written by another reidprune version (checkpoint format {state.get('format', 1)}, "
                f"this one reads format {CHECKPOINT_FORMAT}); delete it to start over")
        if int(state.get("world", 1)) != self.world and int(state["step"]) != 0:
            raise ReidPruneError(
                f"checkpoint was written mid-epoch by {state.get('world', 1)} process(es), this run has "
                f"{self.world}; resume with the same number of processes or delete it")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        load_hook_states(self.stateful, state["trackers"], where)
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return int(state["epoch"]), int(state["step"])


class _StopFlag:
    requested = False


@contextlib.contextmanager
def _catch_signals():
    """Turn SIGTERM / SIGINT into a flag the loop checks after each step (main thread only)."""
    flag = _StopFlag()

    def handler(signum, frame):
        flag.requested = True

    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 256,
            device: str | torch.device = "cpu", progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation-mode pass without augmentation: (logits N x C, embeddings N x D) as float32."""
    device = torch.device(device)
    was_training = model.training
    model.eval().to(device)
    logits, embeds = [], []
    for start in progress_bar(range(0, len(images), batch_size), desc="predict", enabled=progress, unit="batch"):
        x = normalize(images[start:start + batch_size].to(device, non_blocking=True))
        out = model(x)
        if isinstance(out, torch.Tensor):  # a plain classifier
            out = (out, out, out)
        logits.append(out[0].float().cpu())
        embeds.append(out[2].float().cpu())
    model.train(was_training)
    return torch.cat(logits).numpy(), torch.cat(embeds).numpy()

