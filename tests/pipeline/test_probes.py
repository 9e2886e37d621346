"""Known-noise probes through the whole pipeline on a synthetic world: they never leak into exports."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from reidprune.data.images import load_images
from reidprune.data.layouts import load_dataset
from reidprune.data.synth import SynthConfig, generate_world
from reidprune.pipeline.options import default_stop
from reidprune.pipeline.scoring import ScoreOptions, score_dataset
from reidprune.pipeline.selecting import SelectOptions, decide, export_decision
from reidprune.train.config import cpu_quick_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes") / "world"
    generate_world(root, SynthConfig(num_train_ids=30, num_test_ids=4, images_per_id=20, seed=3), progress=False)
    table = load_dataset(root, "market1501")
    train = table.split_table("train")
    config = cpu_quick_config(epochs=4, seed=3, height=32, width=16)
    images, _ = load_images(train, size=(config.height, config.width), progress=False)
    scores = score_dataset(train, images, ScoreOptions(("entropy",), config, stop="probes", seed=3), progress=False)
    return table, train, scores


def test_the_default_stop_needs_thirty_probes():
    assert default_stop(30, pretrained=True) == "probes" and default_stop(29, pretrained=True) == "auto"
    assert default_stop(29, pretrained=False) == "fixed" and default_stop(400, True, recorder_topk=8) == "fixed"


def test_the_run_records_its_probes_and_their_verdict(probed):
    _, train, scores = probed
    ours = scores["entropy"]
    probe = ours.extras["probe"].astype(bool)
    assert probe.sum() == 30 and len(np.unique(train.label[probe])) == 30  # one per identity
    trained = ours.extras["probe_label"]
    assert (trained[probe] != train.label[probe]).all() and (trained[~probe] == -1).all()
    assert np.array_equal(scores.labels, train.label)  # the scores keep the given labels
    calibration = ours.params["calibration"]
    assert calibration["probes"] == 30 and 1 <= ours.params["stopped_at"] <= 4
    assert 0 <= calibration["precision"] <= 1 and 0 <= calibration["recall"] <= 1
    assert len(calibration["history"]) >= ours.params["stopped_at"]


def test_probes_never_leak_into_the_exports(probed, tmp_path):
    table, train, scores = probed
    probe = scores["entropy"].extras["probe"].astype(bool)
    options = SelectOptions(fraction=0.2, relabel="all", max_outlier_fraction=1.0)
    decision = decide(scores, options)
    assert not (decision.mislabeled & probe).any() and not (decision.outliers & probe).any()
    export_decision(tmp_path, train, scores, decision, options, eval_table=table)
    with open(tmp_path / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assigned = np.array([int(r["assigned_label"]) for r in rows])
    corrected = np.array([int(r["corrected_id"]) for r in rows])
    assert np.array_equal(assigned, train.label)  # never the probes' wrong labels
    assert (corrected[probe] == train.classes[train.label[probe]]).all()
    assert all(r["status"] in ("kept", "pruned") for r, p in zip(rows, probe) if p)
    summary = json.loads((tmp_path / "selection.json").read_text())
    assert summary["quality"]["probes"] == 30 and "history" not in summary["quality"]
    assert summary["outlier_threshold"] == decision.threshold


def _with_quality(scores, **changes):
    import copy

    scores = copy.deepcopy(scores)
    scores["entropy"].params["calibration"].update(changes)
    return scores


def test_the_probes_decide_what_is_done(probed):
    """Relabel only when it pays; nothing at all when the soft labels do not separate."""
    _, _, scores = probed
    options = SelectOptions(fraction=0.1, max_outlier_fraction=1.0)
    paying = decide(_with_quality(scores, noise_rate=0.1, relabel_pays=True, delta=0.0, separation=9.0), options)
    kept_flagged = paying.mislabeled & ~paying.outliers & (paying.selection.status != "pruned")
    assert paying.selection.counts()["relabelled"] == int(kept_flagged.sum()) > 0
    assert any("estimated on 30 probes" in note for note in paying.notes)
    costly = decide(_with_quality(scores, noise_rate=0.1, relabel_pays=False, delta=0.0, separation=9.0), options)
    assert costly.selection.counts()["relabelled"] == 0 and costly.mislabeled.any()  # flagged for review only
    assert any("not expected to fix more labels than it breaks" in w for w in costly.warnings)
    forced = decide(_with_quality(scores, noise_rate=0.1, relabel_pays=False, delta=0.0, separation=9.0),
                    SelectOptions(fraction=0.1, max_outlier_fraction=1.0, relabel="all"))
    assert forced.selection.counts()["relabelled"] > 0
    blind = decide(_with_quality(scores, noise_rate=0.8, relabel_pays=False, delta=0.5, separation=0.5), options)
    assert not blind.mislabeled.any() and not blind.outliers.any()
    assert blind.selection.counts()["relabelled"] == 0 and blind.selection.counts()["outlier"] == 0
    assert any("cannot find wrong labels" in w for w in blind.warnings)
    assert blind.selection.counts()["pruned"] == round(0.1 * len(scores.paths))  # pruning still works
