"""The hooks' shared base (state by name, merge rules) and checkpoint states keyed by hook name."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidprune.dynamics.hooks import EpochCallback, TrainingHook, hook_states, load_hook_states, state_names
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.dynamics.topk import TopKLogitRecorder
from reidprune.dynamics.trackers import AUMTracker, ForgettingTracker, LossEMATracker
from reidprune.errors import ReidPruneError
from reidprune.models.reid import build_model
from reidprune.dynamics.stopping import EpochAccuracy
from reidprune.train import loop
from reidprune.train.config import cpu_quick_config


def test_protocols_are_re_exported_where_they_were_imported():
    from reidprune.dynamics import base

    assert base.TrainingHook is TrainingHook and loop.TrainingHook is TrainingHook
    assert loop.EpochCallback is EpochCallback
    assert isinstance(LogitRecorder(2, 2), TrainingHook) and isinstance(EpochAccuracy(), TrainingHook)


def test_merge_rules_come_from_the_declared_state():
    assert ForgettingTracker(3).merge_rules == {"forgets": "sum", "num_correct": "sum", "counts": "sum",
                                                "last_correct": "latest"}
    assert AUMTracker(3).merge_rules == {"margin_sums": "sum", "counts": "sum"}
    assert LossEMATracker(3).merge_rules == {"ema": "latest", "counts": "sum"}
    assert LogitRecorder(3, 2).merge_rules == {"sums": "sum", "counts": "sum"}
    assert EpochAccuracy().merge_rules == {"correct": "sum", "seen": "sum"}
    assert set(AUMTracker(3).state_dict()) == {"margin_sums", "counts", "window"}
    assert set(LossEMATracker(3).state_dict()) == {"ema", "counts", "window", "decay"}


def test_state_dict_is_a_copy_and_shapes_are_checked():
    tracker = AUMTracker(3)
    state = tracker.state_dict()
    tracker.update(torch.tensor([0]), torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert state["counts"].tolist() == [0, 0, 0] and tracker.counts.tolist() == [1, 0, 0]
    with pytest.raises(ReidPruneError, match=r"AUMTracker state 'margin_sums' has shape \(3,\), expected \(4,\)"):
        AUMTracker(4).load_state_dict(state)
    with pytest.raises(ReidPruneError, match="has no 'counts'"):
        AUMTracker(3).load_state_dict({"margin_sums": torch.zeros(3), "window": {"epoch": 1}})


def test_names_are_class_and_index_or_an_explicit_name():
    named = AUMTracker(2)
    named.name = "aum-threshold"
    hooks = [LogitRecorder(2, 2), AUMTracker(2), AUMTracker(2), named, object()]
    assert state_names(hooks) == ["LogitRecorder[0]", "AUMTracker[0]", "AUMTracker[1]", "aum-threshold",
                                  "object[0]"]
    twin = AUMTracker(2)
    twin.name = "aum-threshold"
    with pytest.raises(ReidPruneError, match="aum-threshold"):
        state_names([named, twin])


def test_states_load_by_name_and_a_mismatch_names_what_differs():
    recorder, aum = LogitRecorder(3, 2), AUMTracker(3)
    recorder.update(torch.tensor([2]), torch.tensor([[0.5, 1.5]]))
    aum.update(torch.tensor([1]), torch.tensor([[2.0, 0.0]]), torch.tensor([0]))
    saved = hook_states([recorder, aum, object()])  # objects without a state_dict are left out
    assert list(saved) == ["LogitRecorder[0]", "AUMTracker[0]"]
    fresh = [LogitRecorder(3, 2), AUMTracker(3)]
    load_hook_states(fresh, saved, "checkpoint x.ckpt")
    assert torch.equal(fresh[0].sums, recorder.sums) and fresh[1].margin_sums.tolist() == [0.0, 2.0, 0.0]
    with pytest.raises(ReidPruneError) as err:
        load_hook_states([LogitRecorder(3, 2), ForgettingTracker(3)], saved, "checkpoint x.ckpt")
    message = str(err.value)
    assert message.startswith("checkpoint x.ckpt holds the states of LogitRecorder[0], AUMTracker[0]")
    assert "not in the checkpoint: ForgettingTracker[0]" in message and "not in this run: AUMTracker[0]" in message
    with pytest.raises(ReidPruneError, match="by position"):
        load_hook_states(fresh, [s for s in saved.values()], "checkpoint x.ckpt")


def test_topk_recorder_is_saved_under_its_class_name():
    topk = TopKLogitRecorder(3, 4, k=2)
    topk.update(torch.tensor([0, 0]), torch.tensor([[1.0, 2.0, 0.0, 3.0], [0.0, 1.0, 2.0, 1.0]]))
    saved = hook_states([topk])
    copy = TopKLogitRecorder(3, 4, k=2)
    load_hook_states([copy], saved, "here")
    assert list(saved) == ["TopKLogitRecorder[0]"] and torch.equal(copy.sums, topk.sums)


def _fit(tmp_path, hooks, epochs=1):
    gen = torch.Generator().manual_seed(0)
    labels = np.repeat(np.arange(2), 8)
    images = torch.randint(0, 256, (16, 3, 16, 8), generator=gen, dtype=torch.uint8)
    config = cpu_quick_config(mode="classify", epochs=epochs, batch_size=8, height=16, width=8, device="cpu")
    torch.manual_seed(0)
    return loop.fit(build_model("small", 2), images, labels, config, hooks=hooks,
                    checkpoint=tmp_path / "run.ckpt", run_key="k", progress=False)


def test_resume_with_other_hooks_or_an_older_checkpoint_is_refused_clearly(tmp_path):
    _fit(tmp_path, [LogitRecorder(16, 2), AUMTracker(16)])
    with pytest.raises(ReidPruneError) as err:
        _fit(tmp_path, [LogitRecorder(16, 2), ForgettingTracker(16)], epochs=2)
    assert str(tmp_path / "run.ckpt") in str(err.value) and "ForgettingTracker[0]" in str(err.value)
    resumed = [LogitRecorder(16, 2), AUMTracker(16)]
    assert _fit(tmp_path, resumed, epochs=2).resumed_from == (2, 0) and resumed[0].counts.sum() == 32
    saved = torch.load(tmp_path / "run.ckpt", weights_only=True)
    saved.pop("format")
    torch.save(saved, tmp_path / "run.ckpt")
    with pytest.raises(ReidPruneError, match="checkpoint format 1.*delete it to start over"):
        _fit(tmp_path, [LogitRecorder(16, 2), AUMTracker(16)], epochs=3)
