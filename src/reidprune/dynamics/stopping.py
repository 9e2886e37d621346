"""When to stop a scoring run: per-epoch diagnostics of the soft labels, and an adaptive stop.

The paper trains T = 12 epochs. From a pretrained backbone the right T depends on the data
and the recipe: too early the soft labels are flat (not yet fitted); too late the model has
memorised the wrong labels and the soft label agrees with them (measured on CUHK03, see the
README). After every epoch :class:`ScoringMonitor` computes, from the cumulative soft labels:

* ``train_accuracy``: the epoch's training accuracy against the given labels;
* ``flagged``: the share of samples whose soft-label argmax differs from the given label;
* ``argmax_changed``: the share whose argmax changed since the previous epoch;
* ``spearman``: the rank correlation of the entropy ranking with the previous epoch's.

and, in adaptive mode, stops at the first epoch (from ``min_epochs`` on) where either

* the ranking is stable: ``spearman >= stable_spearman`` and ``argmax_changed <= stable_changes``; or
* the model starts memorising: ``(train_accuracy - (1 - flagged)) / flagged >= memorised``, a
  lower bound on the share of the flagged samples whose (wrong) given label the model now
  predicts during training (it fits at most all of the unflagged ones).

Defaults (``StopRule()``) were chosen on CUHK03 with 20% noise (bench/cuhk03_dynamics.py):
both rules fire at epoch 6 of the cpu preset's recipe, where detection is near its best.

``max_epochs`` caps the run either way.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from reidprune.dynamics.base import StatefulHook
from reidprune.errors import ReidPruneError


@dataclass(frozen=True)
class StopRule:
    """Thresholds of the adaptive stop (documented defaults; see the module docstring)."""

    min_epochs: int = 2
    stable_spearman: float = 0.95
    stable_changes: float = 0.04
    memorised: float | None = 0.5  # None: no memorisation check

    def __post_init__(self):
        if self.min_epochs < 1:
            raise ReidPruneError(f"min_epochs must be >= 1, got {self.min_epochs}")
        if not 0 < self.stable_spearman <= 1 or not 0 <= self.stable_changes < 1 \
                or (self.memorised is not None and not 0 < self.memorised <= 1):
            raise ReidPruneError(
                f"stable_spearman and memorised must lie in (0, 1] and stable_changes in [0, 1), got "
                f"{self.stable_spearman}, {self.memorised} and {self.stable_changes}")


class EpochAccuracy(StatefulHook):
    """A training hook: per-epoch accuracy of the training logits against the labels trained on.

    Two cumulative device scalars (nothing is copied to the host during the epoch); an
    epoch's accuracy is the difference since the previous epoch's end, so the counts only
    ever grow and several training processes can sum them (``merge_rules``).
    """

    # the state, and how several training processes combine it (reidprune.train.distributed)
    state_tensors = {"correct": "sum", "seen": "sum"}

    def __init__(self, device: str | torch.device = "cpu"):
        self.correct = torch.zeros((), dtype=torch.float64, device=device)
        self.seen = torch.zeros((), dtype=torch.float64, device=device)
        self._at_epoch_start = (0.0, 0.0)
        self.history: list[float] = []

    def update(self, ids: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        if labels is None:
            raise ReidPruneError("EpochAccuracy needs the labels: call update(ids, logits, labels)")
        self.correct += (logits.argmax(1) == labels).sum()
        self.seen += labels.numel()

    def end_epoch(self) -> None:
        correct, seen = float(self.correct), float(self.seen)
        self.history.append((correct - self._at_epoch_start[0]) / max(1.0, seen - self._at_epoch_start[1]))
        self._at_epoch_start = (correct, seen)

    def extra_state(self) -> dict:
        return {"history": torch.tensor(self.history, dtype=torch.float64),
                "at_epoch_start": torch.tensor(self._at_epoch_start, dtype=torch.float64)}

    def load_extra_state(self, state: dict) -> None:
        self.history = state["history"].tolist()
        self._at_epoch_start = tuple(state["at_epoch_start"].tolist()) if "at_epoch_start" in state else (0.0, 0.0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two equally long 1-D arrays (average ranks for ties)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ReidPruneError(f"spearman needs two 1-D arrays of one length, got {a.shape} and {b.shape}")
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 1.0


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    # ties share the mean of their positions
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends - 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


@dataclass
class EpochDiagnostics:
    epoch: int
    train_accuracy: float
    flagged: float
    argmax_changed: float | None
    spearman: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def diagnose(epoch: int, soft: np.ndarray, labels: np.ndarray, train_accuracy: float,
             previous: tuple[np.ndarray, np.ndarray] | None) -> tuple[EpochDiagnostics, tuple[np.ndarray, np.ndarray]]:
    """Diagnostics of one epoch's cumulative soft labels; returns them and (entropy, argmax) to keep."""
    p = np.clip(soft, 1e-12, 1.0)
    entropy = -(soft * np.log2(p)).sum(1)
    argmax = soft.argmax(1)
    changed = rho = None
    if previous is not None:
        changed = float((argmax != previous[1]).mean())
        rho = spearman(entropy, previous[0])
    diag = EpochDiagnostics(epoch, train_accuracy, float((argmax != labels).mean()), changed, rho)
    return diag, (entropy, argmax)


def memorised_share(diag: EpochDiagnostics) -> float:
    """Lower bound on the share of flagged samples whose given label the model already predicts."""
    if diag.flagged <= 0:
        return 1.0
    return max(0.0, diag.train_accuracy - (1.0 - diag.flagged)) / diag.flagged


def stop_reason(diag: EpochDiagnostics, rule: StopRule) -> str | None:
    """Why the run should stop after this epoch, or ``None`` to go on."""
    if diag.epoch < rule.min_epochs:
        return None
    fitted = memorised_share(diag)
    if rule.memorised is not None and fitted >= rule.memorised:
        return (f"memorisation: training accuracy {diag.train_accuracy:.3f} with {diag.flagged:.3f} flagged: the "
                f"model fits >= {fitted:.2f} of the flagged samples' given labels")
    if diag.spearman is not None and diag.spearman >= rule.stable_spearman \
            and diag.argmax_changed <= rule.stable_changes:
        return f"stable ranking: Spearman {diag.spearman:.4f}, argmax changed for {diag.argmax_changed:.4f}"
    return None


class ScoringMonitor:
    """An epoch callback: diagnostics of the recorder's cumulative soft labels, and the stop.

    Parameters
    ----------
    recorder: the :class:`~reidprune.dynamics.recorder.LogitRecorder` of the run.
    accuracy: an :class:`EpochAccuracy` hook of the same run.
    labels: the given training labels (N,).
    rule: the stop thresholds; ``None`` only records diagnostics (a fixed T).
    ends_training: stop the whole run at the stop (otherwise only the recorder's window closes,
        for runs that go on for other scores such as forgetting).
    """

    def __init__(self, recorder, accuracy: EpochAccuracy, labels: np.ndarray, rule: StopRule | None = None,
                 ends_training: bool = True):
        self.recorder, self.accuracy, self.labels = recorder, accuracy, np.asarray(labels)
        self.rule, self.ends_training = rule, ends_training
        self.history: list[EpochDiagnostics] = []
        self.stop_epoch: int | None = None
        self.reason: str | None = None
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def should_stop(self) -> bool:
        return self.stop_epoch is not None and self.ends_training

    def on_epoch_end(self, epoch: int, model=None) -> None:
        if self.stop_epoch is not None or self.recorder.counts.sum() == 0:
            return
        soft = self.recorder.soft_labels(allow_missing=True).numpy()
        diag, self._previous = diagnose(epoch, soft, self.labels, self.accuracy.history[-1], self._previous)
        self.history.append(diag)
        reason = stop_reason(diag, self.rule) if self.rule is not None else None
        if reason is not None:
            self.stop_epoch, self.reason = epoch, reason
            self.recorder.close_window(epoch)  # later epochs (if any) are not accumulated

    def params(self, stop: str, cap: int) -> dict:
        """What the scores file records about when the recorder stopped, and why (``stop``: the mode
        asked for; ``cap``: the longest window allowed, T)."""
        stopped = self.stop_epoch
        return {"stop": stop, "cap": cap, "stopped_at": stopped or min(cap, len(self.history)),
                "stop_reason": self.reason or ("fixed T" if stop == "fixed" else "reached the cap"),
                "epochs_saved": cap - stopped if stopped else 0,
                "stop_rule": asdict(self.rule) if self.rule is not None else None,
                "diagnostics": [d.as_dict() for d in self.history]}

    def state_dict(self) -> dict:
        return {"history": [d.as_dict() for d in self.history], "stop_epoch": self.stop_epoch or 0,
                "reason": self.reason or "",
                "previous": [torch.as_tensor(a) for a in self._previous] if self._previous else []}

    def load_state_dict(self, state: dict) -> None:
        self.history = [EpochDiagnostics(**d) for d in state["history"]]
        self.stop_epoch = state["stop_epoch"] or None
        self.reason = state["reason"] or None
        self._previous = tuple(t.numpy() for t in state["previous"]) if state["previous"] else None
        if self.stop_epoch is not None:
            self.recorder.close_window(self.stop_epoch)
