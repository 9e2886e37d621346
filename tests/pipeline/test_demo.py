"""The demo pipeline on a tiny world, and its detection metrics on a hand-made case."""
from types import SimpleNamespace

import numpy as np
import pytest

from reidprune.data.synth import SynthConfig
from reidprune.pipeline.demo import DemoOptions, detection_quality, format_table, run_demo


def test_tiny_demo_runs_and_prints_every_row(tmp_path):
    world = SynthConfig(num_train_ids=6, num_test_ids=3, images_per_id=8, test_images_per_id=4, num_distractors=0)
    options = DemoOptions(world=world, fraction=0.25, score_epochs=4, retrain_epochs=1)
    result = run_demo(tmp_path / "demo", options, progress=False, echo=lambda m: None)
    table = format_table(result)
    for row in ("mislabel precision", "correction accuracy", "outlier recall", "fraction pruned",
                "full", "pruned + purified", "random pruned"):
        assert row in table
    assert result.retrain["full"]["train_images"] == 48
    kept = result.counts["kept"] + result.counts["relabelled"]
    assert result.retrain["pruned + purified"]["train_images"] == kept == result.retrain["random pruned"]["train_images"]
    assert (tmp_path / "demo" / "lists" / "Ranking_list.npy").exists()
    assert (tmp_path / "demo" / "manifest.csv").exists()


def test_detection_quality_by_hand():
    # 6 samples: 0,1 truly mislabeled (true pids 20, 30); 2 an outlier; 3-5 clean.
    train = SimpleNamespace(relative_paths=lambda: np.array(list("abcdef")), classes=np.array([10, 20, 30]))
    truth = {"path": np.array(list("fedcba")),
             "kind": np.array(["clean", "clean", "clean", "occlusion", "mislabeled", "mislabeled"]),
             "true_pid": np.array([10, 10, 10, 10, 30, 20])}
    decision = SimpleNamespace(
        mislabeled=np.array([True, True, False, False, True, False]),   # 0, 1 right; 4 a false alarm
        outliers=np.array([False, False, True, True, False, False]),    # 2 right, 3 wrong
        predicted=np.array([1, 0, 0, 0, 2, 0]))                        # 0 -> pid 20 (right), 1 -> pid 10 (wrong)
    q = detection_quality(train, decision, truth)
    assert q["mislabel_precision"] == pytest.approx(2 / 3)
    assert q["mislabel_recall"] == 1.0
    assert q["correction_accuracy"] == 0.5
    assert q["outlier_precision"] == 0.5 and q["outlier_recall"] == 1.0
