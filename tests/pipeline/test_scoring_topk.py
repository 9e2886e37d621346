"""The scoring pipeline with the top-k recorder (ScoreOptions.recorder_topk)."""
import sys
from pathlib import Path

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.pipeline.scoring import ScoreOptions, score_dataset
from reidprune.pipeline.selecting import SelectOptions, decide
from reidprune.train.config import cpu_quick_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from resume_job import tiny_world  # noqa: E402

CONFIG = cpu_quick_config(epochs=2, batch_size=16, height=32, width=16)


def test_topk_with_all_but_one_class_reproduces_the_exact_scores():
    # With k = C - 1 the remainder is a single class, whose log-mean-exp is its logit: the
    # sparse soft label is the exact one, so every score and flag must agree.
    table, images = tiny_world()
    exact = score_dataset(table, images, ScoreOptions(("entropy",), CONFIG), progress=False)
    sparse = score_dataset(table, images, ScoreOptions(("entropy",), CONFIG, recorder_topk=table.num_classes - 1),
                           progress=False)
    ours = sparse["entropy"]
    assert "mean_logits" not in ours.extras and ours.params["recorder_topk"] == table.num_classes - 1
    np.testing.assert_allclose(ours.importance, exact["entropy"].importance, atol=1e-4)
    np.testing.assert_allclose(ours.extras["max_score"], exact["entropy"].extras["max_score"], atol=1e-5)
    np.testing.assert_array_equal(ours.extras["predicted"], exact["entropy"].extras["predicted"])
    options = SelectOptions(fraction=0.25, max_outlier_fraction=1.0, delta=2.0, delta_relative=True)
    a, b = decide(exact, options), decide(sparse, options)
    np.testing.assert_array_equal(a.mislabeled, b.mislabeled)
    np.testing.assert_array_equal(a.outliers, b.outliers)
    np.testing.assert_array_equal(a.selection.status, b.selection.status)


def test_negative_topk_is_refused():
    with pytest.raises(ReidPruneError, match="recorder_topk must be 0"):
        ScoreOptions(("entropy",), CONFIG, recorder_topk=-1)


def test_score_output_names_the_fixed_T_of_a_topk_run():
    from reidprune.pipeline.score_folder import format_diagnostics

    assert format_diagnostics({"score_epochs": 12, "every": 1, "recorder_topk": 8}) == \
        "soft labels from epochs 1-12 (fixed T; no per-epoch diagnostics)"
    diagnostics = [{"epoch": 1, "train_accuracy": 0.5, "flagged": 0.25, "argmax_changed": None, "spearman": None}]
    table = format_diagnostics({"diagnostics": diagnostics, "stopped_at": 1, "stop_reason": "cap", "cap": 1})
    assert table.splitlines()[1].split() == ["1", "0.500", "0.250"]
    assert table.splitlines()[-1] == "soft labels from epochs 1-1 (cap)"
