"""The adaptive stop and its diagnostics, on hand-made soft labels and a tiny training run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidprune.dynamics.recorder import LogitRecorder
from reidprune.errors import ReidPruneError
from reidprune.dynamics.stopping import (EpochAccuracy, EpochDiagnostics, ScoringMonitor, StopRule, diagnose,
                                         memorised_share, spearman, stop_reason)


def test_spearman_by_hand():
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    # ranks (1,2,3) vs (1,3,2): 1 - 6 * (0 + 1 + 1) / (3 * 8) = 0.5
    assert spearman(np.array([1.0, 2, 3]), np.array([1.0, 3, 2])) == pytest.approx(0.5)
    # ties get average ranks: (1.5, 1.5, 3) vs (1, 2, 3) -> Pearson of centred ranks = sqrt(3)/2
    assert spearman(np.array([5.0, 5, 9]), np.array([1.0, 2, 3])) == pytest.approx(np.sqrt(3) / 2)
    with pytest.raises(ReidPruneError):
        spearman(np.zeros(3), np.zeros(4))


def test_diagnose_by_hand():
    labels = np.array([0, 1, 1, 0])
    soft1 = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    d1, prev = diagnose(1, soft1, labels, 0.5, None)
    assert d1.flagged == pytest.approx(0.25)  # sample 2 (argmax 0, label 1); sample 3 ties -> argmax 0 = label
    assert d1.argmax_changed is None and d1.spearman is None
    soft2 = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    d2, _ = diagnose(2, soft2, labels, 0.75, prev)
    assert d2.argmax_changed == pytest.approx(0.5)  # samples 2 and 3 changed
    assert d2.flagged == pytest.approx(0.25)  # sample 3 now disagrees
    # entropies: s0, s1 unchanged; s2 keeps its entropy (0.6/0.4 <-> 0.3/0.7 differ), s3 falls from 1 bit
    assert -1 <= d2.spearman <= 1


def test_stop_rule_memorisation_and_stability():
    rule = StopRule(min_epochs=2, stable_spearman=0.99, stable_changes=0.01, memorised=0.5)
    assert stop_reason(EpochDiagnostics(1, 0.95, 0.01, None, None), rule) is None  # before min_epochs
    # accuracy 0.91 with 0.20 flagged: >= (0.91 - 0.80) / 0.20 = 0.55 of the flagged are fitted
    assert memorised_share(EpochDiagnostics(3, 0.91, 0.20, 0.02, 0.9)) == pytest.approx(0.55)
    assert "memorisation" in stop_reason(EpochDiagnostics(3, 0.91, 0.20, 0.02, 0.9), rule)
    assert stop_reason(EpochDiagnostics(3, 0.85, 0.20, 0.02, 0.9), rule) is None  # 0.25 < 0.5: not yet
    assert stop_reason(EpochDiagnostics(3, 0.70, 0.20, 0.02, 0.9), rule) is None  # not fitted yet
    assert "stable" in stop_reason(EpochDiagnostics(3, 0.70, 0.20, 0.005, 0.995), rule)
    assert stop_reason(EpochDiagnostics(3, 0.70, 0.20, 0.05, 0.995), rule) is None  # argmax still moving
    with pytest.raises(ReidPruneError):
        StopRule(stable_spearman=1.5)
    no_memo = StopRule(min_epochs=2, stable_spearman=0.99, stable_changes=0.01, memorised=None)
    assert stop_reason(EpochDiagnostics(3, 0.99, 0.20, 0.02, 0.9), no_memo) is None


def test_epoch_accuracy_counts_per_epoch():
    acc = EpochAccuracy()
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]])
    acc.update(torch.tensor([0, 1, 2]), logits, torch.tensor([0, 0, 0]))
    acc.end_epoch()
    acc.update(torch.tensor([0]), logits[:1], torch.tensor([0]))
    acc.end_epoch()
    assert acc.history == pytest.approx([2 / 3, 1.0])
    clone = EpochAccuracy()
    clone.load_state_dict(acc.state_dict())
    assert clone.history == pytest.approx(acc.history)


def test_monitor_stops_and_closes_the_recorder_window():
    n, c = 4, 2
    labels = np.array([0, 0, 1, 1])
    recorder, acc = LogitRecorder(n, c), EpochAccuracy()
    monitor = ScoringMonitor(recorder, acc, labels, StopRule(min_epochs=1))
    ids = torch.arange(n)
    logits = torch.tensor([[3.0, 0], [3.0, 0], [0, 3.0], [3.0, 0]])  # sample 3 disagrees with its label
    for epoch in (1, 2):
        for hook in (recorder, acc):
            hook.update(ids, logits, torch.as_tensor(labels))
            hook.end_epoch()
        monitor.on_epoch_end(epoch)
        if monitor.should_stop:
            break
    # accuracy 0.75, flagged 0.25: (0.75 - 0.75) / 0.25 = 0 fitted, no memorisation;
    # epoch 2: the ranking and the argmax are unchanged, so the stable rule fires
    assert monitor.stop_epoch == 2 and "stable" in monitor.reason
    assert recorder.window.stop == 2 and monitor.history[0].flagged == pytest.approx(0.25)
    clone = ScoringMonitor(LogitRecorder(n, c), EpochAccuracy(), labels, StopRule())
    clone.load_state_dict(monitor.state_dict())
    assert clone.stop_epoch == 2 and clone.should_stop and clone.recorder.window.stop == 2


def test_fixed_mode_records_diagnostics_and_never_stops():
    recorder, acc = LogitRecorder(2, 2), EpochAccuracy()
    monitor = ScoringMonitor(recorder, acc, np.array([0, 1]), rule=None)
    for epoch in (1, 2, 3):
        for hook in (recorder, acc):
            hook.update(torch.arange(2), torch.tensor([[2.0, 0], [0, 2.0]]), torch.tensor([0, 1]))
            hook.end_epoch()
        monitor.on_epoch_end(epoch)
    assert not monitor.should_stop and [d.epoch for d in monitor.history] == [1, 2, 3]
    assert monitor.history[-1].spearman == pytest.approx(1.0) and monitor.history[-1].argmax_changed == 0
