"""The calibrated stop: end the logit window where the known-noise probes say detection is best.

An epoch callback beside the :class:`~reidprune.dynamics.recorder.LogitRecorder`. After every
epoch it estimates, from the recorder's cumulative soft labels and the probes
(:func:`reidprune.select.calibration.estimate`), the mislabel F1 of the window 1..epoch. The
noise-rate bound only tightens as the model fits the clean samples, so every window is judged
with the tightest bound seen so far. The run stops ``patience`` epochs after the best window (the
model is memorising the wrong labels: the probes' recall falls) and the recorder is rolled back
to that window.

``patience`` is how far past a peak the search looks, not a threshold on the data: a window
only wins on the probes' evidence. A window whose flags do not separate the probes from the other
images (:func:`~reidprune.select.calibration.separates`) cannot win while one that does exists, and
does not stop the run: the run would act on none of its flags (at high noise the earliest window
flags nearly everything and so scores a high F1 estimate).

Where most flags fall in repeated (given -> proposed) identity pairs, the real errors follow a
pattern (look-alike identities confused), which the model partly learns: they are memorised sooner
than isolated wrong labels. The random-identity probes then mislead (they stay flagged, and their
noise-rate bound falls to 0), so windows are judged by the similar-identity probes alone
(:attr:`ProbeMonitor.look_alike`). The same holds where that bound falls to 0 without a pattern
(about 10 images per identity: a look-alike pair holds too few errors to repeat), as long as the
similar-identity probes still separate from the other images.

The epochs after the window still help to *correct*: the model keeps learning the identities
while it memorises the wrong labels, and memorisation only raises the score of the given label.
So the proposed identity of a flagged image is the best class other than its given label in the
soft labels of every epoch trained (:attr:`ProbeMonitor.proposed`), and the correction estimate
is measured on the probes the same way.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from reidprune.data.noise import choose_probes, nearest_classes, probe_count
from reidprune.errors import ReidPruneError
from reidprune.select.calibration import (MIN_PROBES, NOT_RANDOM_WHY, PATTERN_WHY, ProbeEstimate, estimate,
                                          not_random_kind, probe_delta, relabel_pays, separates)


def probes_wanted(labels, num_classes: int, fraction: float) -> int:
    """How many probes a scoring run with the calibrated stop gets (:func:`~reidprune.data.noise.probe_count`);
    an error that names the ways out when there are too few to calibrate on."""
    count = probe_count(labels, fraction)
    if count < MIN_PROBES:
        raise ReidPruneError(
            f"{len(labels)} images of {num_classes} identities give {count} probes, fewer than the {MIN_PROBES} the "
            "calibrated stop needs (--stop probes): use --stop auto or --stop fixed, or a larger --probe-fraction")
    return count


def plan_probes(labels, num_classes: int, count: int, seed: int,
                embeddings=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The probes, the labels the run trains with, and which probes took the most similar identity's
    label: half of them do when ``embeddings`` (a pretrained backbone's features, one pass before
    training) say which identities look alike, none without them."""
    nearest = None if embeddings is None else nearest_classes(embeddings, labels, num_classes)
    return choose_probes(labels, num_classes, count, seed, nearest)


class ProbeMonitor:
    """Judge each epoch's cumulative soft labels on the probes; stop past the best window.

    Parameters
    ----------
    recorder: the run's :class:`~reidprune.dynamics.recorder.LogitRecorder`.
    trained_labels: ``(N,)`` the labels the run trains with (probes hold their wrong label).
    true_labels: ``(N,)`` the given labels.
    probes: ``(N,)`` bool mask of the probes (at least one).
    similar: ``(N,)`` bool, the probes given the most similar identity (None: all random).
    patience: epochs without a better window before stopping.
    ends_training: stop the run at the stop (else only judge, e.g. for a benchmark that
        records every epoch).
    """

    def __init__(self, recorder, trained_labels, true_labels, probes, patience: int = 2,
                 ends_training: bool = True, similar=None):
        self.recorder = recorder
        self.trained = np.asarray(trained_labels, dtype=np.int64)
        self.true = np.asarray(true_labels, dtype=np.int64)
        self.probes = np.asarray(probes, dtype=bool)
        self.similar = None if similar is None else np.asarray(similar, dtype=bool)
        if not self.probes.any():
            raise ReidPruneError("the calibrated stop needs at least one probe")
        if patience < 1:
            raise ReidPruneError(f"patience must be >= 1 epoch, got {patience}")
        self.patience, self.ends_training = patience, ends_training
        self.history: list[ProbeEstimate] = []
        self.noise_rate = 1.0  # the tightest bound so far
        self.noise_rate_upper = 1.0  # the same from the similar-identity probes alone
        self._snapshots: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.stop_epoch: int | None = None
        self.proposed: np.ndarray | None = None  # after finish(): each sample's best class but its label

    @property
    def others(self) -> int:
        return int((~self.probes).sum())

    @property
    def look_alike(self) -> bool:
        """Whether windows are judged by the similar-identity probes alone (:meth:`ProbeEstimate.as_look_alike`):
        the latest window's flags follow a pattern (:attr:`ProbeEstimate.follows_pattern`), or the probes'
        tightest noise-rate bound is 0 while the similar ones separate
        (:func:`~reidprune.select.calibration.not_random_kind`)."""
        return self._look_alike_why() is not None

    def _look_alike_why(self) -> str | None:
        if not self.history or self.history[-1].recall_similar is None:
            return None
        latest = self.history[-1]
        if latest.follows_pattern:
            return PATTERN_WHY
        if not_random_kind(self.noise_rate, latest.separation_similar):
            return NOT_RANDOM_WHY
        return None

    def judged(self) -> list[ProbeEstimate]:
        """Every window so far, judged with the tightest noise-rate bounds (the similar-identity probes'
        where the real errors are not of the random kind, :attr:`look_alike`)."""
        why = self._look_alike_why()
        if why is not None:
            return [e.as_look_alike(self.noise_rate_upper, self.others, why) for e in self.history]
        return [replace(e.with_noise_rate(self.noise_rate, self.others),
                        noise_rate_upper=max(self.noise_rate, self.noise_rate_upper)) for e in self.history]

    def best(self) -> ProbeEstimate | None:
        """The best window kept; only windows whose flags separate the probes from the other images
        (:func:`~reidprune.select.calibration.separates`) compete while there is one, since the run
        acts on no other."""
        judged = [e for e in self.judged() if e.epoch in self._snapshots]
        usable = [e for e in judged if separates(e.separation)] or judged
        return max(usable, key=_rank) if usable else None

    @property
    def should_stop(self) -> bool:
        return self.ends_training and self.stop_epoch is not None

    def on_epoch_end(self, epoch: int, model=None) -> None:
        if self.stop_epoch is not None or self.recorder.counts.sum() == 0:
            return
        soft = self.recorder.soft_labels(allow_missing=True).numpy()
        found = estimate(soft, self.trained, self.true, self.probes, epoch, self.similar)
        self.history.append(found)
        self.noise_rate = min(self.noise_rate, found.noise_rate)
        self.noise_rate_upper = min(self.noise_rate_upper, found.noise_rate_upper)
        self._snapshots[epoch] = (self.recorder.sums.detach().cpu().clone(), self.recorder.counts.detach().cpu().clone())
        self._forget_dominated()
        best = self.best()
        if separates(best.separation) and epoch - best.epoch >= self.patience:
            self.stop_epoch = epoch

    def _forget_dominated(self) -> None:
        """Keep the snapshots of windows that may still win: any noise-rate bound ranks a window
        with no lower recall and no lower recall per flag above another."""
        by_epoch = {e.epoch: e for e in self.history}

        def dominated(a: ProbeEstimate) -> bool:  # ties broken as best() breaks them; under both judgements
            def beats(b: ProbeEstimate, recall_of, separation_of) -> bool:
                ra, rb = recall_of(a), recall_of(b)
                recall, per_flag = rb - ra, rb * max(a.flagged, 1) - ra * max(b.flagged, 1)
                if recall < 0 or per_flag < 0:
                    return False
                return (recall > 0 or per_flag > 0 or (-b.flagged, -b.epoch) > (-a.flagged, -a.epoch)) \
                    and (separates(separation_of(b)) or not separates(separation_of(a)))
            judgements = [(lambda e: e.recall, lambda e: e.separation)]
            if a.recall_similar is not None:
                judgements.append((lambda e: e.recall_similar, lambda e: e.separation_similar))
            return any(b.epoch != a.epoch and all(beats(b, *j) for j in judgements)
                       for b in by_epoch.values() if b.epoch in self._snapshots)

        for epoch in sorted(self._snapshots):
            if epoch != self.history[-1].epoch and dominated(by_epoch[epoch]):
                del self._snapshots[epoch]

    def finish(self) -> ProbeEstimate:
        """Roll the recorder back to the best window and return its estimate (its correction
        measured with the proposals of every epoch trained, :attr:`proposed`)."""
        best = self.best()
        if best is None:
            raise ReidPruneError("the calibrated stop judged no epoch: was the recorder fed?")
        self.proposed = self._proposals()
        sums, counts = self._snapshots[best.epoch]
        self.recorder.restore(sums, counts, best.epoch)
        flagged = self.probes & (self._argmax() != self.trained)
        if flagged.any():
            right = float((self.proposed[flagged] == self.true[flagged]).mean())
            best = replace(best, correction=min(1.0, right / max(1e-9, 1.0 - best.noise_rate)))
        return best

    def verdict(self, best: ProbeEstimate, max_score: np.ndarray, predicted: np.ndarray, cap: int,
                epochs: int) -> tuple[np.ndarray, dict, dict]:
        """What the probes say, for the scores file: (each sample's proposed label, the probe extras,
        the stop and calibration parameters).

        ``best`` is :meth:`finish`'s window; ``max_score`` / ``predicted`` the soft labels' over
        it; ``cap`` the longest window allowed (T); ``epochs`` how long the run trained. A flagged
        sample's proposal is taken with every epoch trained (:attr:`proposed`); the recall of each
        kind of probe is given apart, since real errors fall between random and look-alike ones.
        """
        probe, trained = self.probes, self.trained
        similar = np.zeros_like(probe) if self.similar is None else self.similar
        predicted = np.where(predicted != trained, self.proposed, predicted)
        found = probe & (predicted != trained)
        kinds = {"random": probe & ~similar, "similar": similar}
        by_kind = {f"recall_{k}": float(found[m].sum() / m.sum()) for k, m in kinds.items() if m.any()}
        stopped = self.stop_epoch or epochs
        extras = {"probe": probe, "probe_label": np.where(probe, trained, -1), "probe_similar": similar}
        params = {
            "stop": "probes", "cap": cap, "stopped_at": best.epoch, "epochs_saved": cap - stopped,
            "stop_reason": f"calibrated on {int(probe.sum())} probes: best estimated F1 with epochs 1-{best.epoch}"
                           + (f" (run ended at epoch {stopped})" if stopped != best.epoch else ""),
            "calibration": {**best.as_dict(), **by_kind, "delta": probe_delta(max_score[probe]),
                            "relabel_pays": relabel_pays(best.precision, best.correction, best.probes, best.judged_why),
                            "history": [e.as_dict() for e in self.judged()]}}
        return predicted, extras, params

    def _argmax(self) -> np.ndarray:
        return self.recorder.soft_labels(allow_missing=True).argmax(1).numpy()

    def _proposals(self) -> np.ndarray:
        soft = self.recorder.soft_labels(allow_missing=True)
        soft[torch.arange(len(soft)), torch.as_tensor(self.trained)] = -1.0
        return soft.argmax(1).numpy()

    def state_dict(self) -> dict:
        return {"history": [e.as_dict() for e in self.history], "noise_rate": self.noise_rate,
                "noise_rate_upper": self.noise_rate_upper,
                "stop_epoch": self.stop_epoch or 0,
                "snapshots": {str(k): [s, c] for k, (s, c) in self._snapshots.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.history = [ProbeEstimate(**d) for d in state["history"]]
        self.noise_rate = float(state["noise_rate"])
        self.noise_rate_upper = float(state.get("noise_rate_upper", 1.0))
        self.stop_epoch = int(state["stop_epoch"]) or None
        self._snapshots = {int(k): (v[0], v[1]) for k, v in state["snapshots"].items()}


def _rank(e: ProbeEstimate) -> tuple:
    """Order windows by estimated F1; where F1 ties (a noise-rate bound of 0 on clean data makes
    every F1 0) by its limit as the noise rate goes to 0, recall per flag, then fewer flags, then
    the earlier window."""
    return round(e.f1, 12), round(e.recall / max(e.flagged, 1), 12), -e.flagged, -e.epoch
