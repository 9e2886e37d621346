"""A Lightning ``Callback`` that drives the recorder (and any tracker) from a ``Trainer``.

Import this module only where Lightning is installed (``pip install lightning``); nothing else
in reidprune imports it. Your ``LightningModule`` does two things:

* its training batches carry each sample's dataset index (``(images, labels, index)`` by
  default; see ``batch_index`` / ``batch_labels`` for other shapes), and
* ``training_step`` returns ``{"loss": loss, "logits": logits.detach()}``.

Every hook (``LogitRecorder``, ``ForgettingTracker``, ``AUMTracker``, ``LossEMATracker``) then gets
``update(index, logits, labels)`` after every step and ``end_epoch()`` after every training epoch,
and their state is saved in (and restored from) Lightning checkpoints, each under its name
(:func:`reidprune.dynamics.hooks.state_names`).
"""
from __future__ import annotations

from typing import Callable, Sequence

try:  # the unified package first, then the standalone one (both ship the same classes)
    from lightning.pytorch import Callback
except ImportError:  # pragma: no cover - depends on what is installed
    from pytorch_lightning import Callback

from reidprune.dynamics.hooks import TrainingHook, hook_states, load_hook_states
from reidprune.errors import ReidPruneError


def _last(batch):
    return batch[-1]


def _second(batch):
    return batch[1]


class RecorderCallback(Callback):
    """Feed every training step's logits to reidprune hooks.

    Parameters
    ----------
    hooks:
        One or more objects with ``update(ids, logits, labels)`` and ``end_epoch()`` (e.g. a
        :class:`~reidprune.dynamics.recorder.LogitRecorder`).
    logits_key:
        Key of the logits in the dict ``training_step`` returns.
    batch_index:
        Function from a batch to its dataset indices (default: the last element).
    batch_labels:
        Function from a batch to its labels (default: the second element); trackers that need
        no labels (the recorder) ignore them.
    epoch_callbacks:
        Objects with ``on_epoch_end(epoch, model)`` called after the hooks' ``end_epoch`` (e.g. the
        calibrated stop, :class:`~reidprune.dynamics.probe_stop.ProbeMonitor`); when one's
        ``should_stop`` is true, ``trainer.should_stop`` is set, as :func:`reidprune.train.loop.fit`
        ends its own loop.
    """

    def __init__(self, hooks: TrainingHook | Sequence[TrainingHook], logits_key: str = "logits",
                 batch_index: Callable = _last, batch_labels: Callable = _second,
                 epoch_callbacks: Sequence = ()):
        super().__init__()
        self.hooks = list(hooks) if isinstance(hooks, (list, tuple)) else [hooks]
        if not self.hooks:
            raise ReidPruneError("RecorderCallback needs at least one hook (e.g. a LogitRecorder)")
        self.logits_key, self.batch_index, self.batch_labels = logits_key, batch_index, batch_labels
        self.epoch_callbacks = list(epoch_callbacks)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not isinstance(outputs, dict) or self.logits_key not in outputs:
            raise ReidPruneError(
                f"training_step must return a dict with the logits under {self.logits_key!r}, e.g. "
                f"return {{'loss': loss, '{self.logits_key}': logits.detach()}}; got {type(outputs).__name__}")
        logits = outputs[self.logits_key].detach()
        ids, labels = self.batch_index(batch), self.batch_labels(batch)
        for hook in self.hooks:
            hook.update(ids.to(logits.device), logits, labels.to(logits.device))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        for hook in self.hooks:
            hook.end_epoch()
        for callback in self.epoch_callbacks:
            callback.on_epoch_end(trainer.current_epoch + 1, pl_module)
        if any(getattr(callback, "should_stop", False) for callback in self.epoch_callbacks):
            trainer.should_stop = True

    def state_dict(self) -> dict:
        return {"hooks": hook_states(self.hooks)}

    def load_state_dict(self, state_dict: dict) -> None:
        load_hook_states(self.hooks, state_dict["hooks"], "the Lightning checkpoint")
