"""A tiny sweep on a synthetic world: rows, skip-on-rerun after an interruption, iterations, report.

2 methods x 2 fractions x 2 seeds + 2 unpruned baselines = 10 retrainings of one epoch, one
scoring run of two epochs (small CNN at 32x16, 96 training images).
"""
import json
import sqlite3

import numpy as np
import pytest

from reidprune.data.synth import SynthConfig, generate_world
from reidprune.errors import ReidPruneError
from reidprune.experiments.grid import Grid
from reidprune.experiments.sweep import SweepOptions, run_sweep
from reidprune.experiments.sweep_report import write_sweep_report
from reidprune.train.config import cpu_quick_config
from reidprune.train.loop import TrainingInterrupted

pytestmark = pytest.mark.slow

N, BATCH = 96, 16
SCORE = cpu_quick_config(epochs=2, batch_size=BATCH, height=32, width=16, device="cpu")
RETRAIN = SCORE.replace(epochs=1)
GRID = Grid(methods=("random", "entropy"), fractions=(0.25, 0.5), seeds=(0, 1), max_outlier_fraction=1.0)
OPTIONS = SweepOptions(GRID, SCORE, RETRAIN)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    config = SynthConfig(num_train_ids=8, num_test_ids=6, images_per_id=12, test_images_per_id=4,
                         num_distractors=0, height=32, width=16, outlier_rate=0.0, seed=0)
    return generate_world(tmp_path_factory.mktemp("sweep") / "world", config, progress=False)


@pytest.fixture(scope="module")
def swept(world, tmp_path_factory):
    """Run 1 is killed at its 4th retraining, run 2 finishes, run 3 finds nothing to do."""
    import reidprune.pipeline.retrain as retrain

    out = tmp_path_factory.mktemp("sweep") / "out"
    original, calls = retrain.retrain_and_evaluate, []

    def killed_at_the_fourth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise TrainingInterrupted("simulated kill")
        return original(*args, **kwargs)

    retrain.retrain_and_evaluate = killed_at_the_fourth
    try:
        with pytest.raises(TrainingInterrupted):
            run_sweep(world, out, OPTIONS, progress=False, echo=lambda m: None)
    finally:
        retrain.retrain_and_evaluate = original
    after_kill = _rows(out)
    messages = []
    second = run_sweep(world, out, OPTIONS, progress=False, echo=messages.append)
    third = run_sweep(world, out, OPTIONS, progress=False, echo=lambda m: None)
    grown = SweepOptions(Grid(methods=("entropy", "forgetting", "ma_loss"), fractions=(0.5,), seeds=(0,),
                              max_outlier_fraction=1.0), SCORE, RETRAIN)
    fourth = run_sweep(world, out, grown, progress=False, echo=lambda m: None)
    return out, after_kill, second, third, messages, fourth


def _rows(out):
    with sqlite3.connect(out / "sweep.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM cells")]


def test_a_killed_sweep_keeps_finished_cells_and_a_rerun_skips_them(swept):
    out, after_kill, second, third = swept[:4]
    assert len(after_kill) == 3  # the fourth cell was running when killed: lost, nothing else
    assert (second.planned, second.already_done, second.trained) == (10, 3, 7)
    assert second.scored == 1  # the entropy scores, computed once for its 4 cells
    assert (third.already_done, third.trained, third.scored) == (10, 0, 0)
    assert not (out / "running").exists()


def test_a_grown_grid_trains_only_new_cells_and_scores_their_methods_at_once(swept):
    out, fourth = swept[0], swept[5]
    # baseline and entropy at 50% seed 0 are done; forgetting and ma_loss share one new main run
    assert (fourth.planned, fourth.already_done, fourth.trained, fourth.scored) == (4, 2, 2, 1)
    from reidprune.scores.store import ScoreSet

    (file,) = (out / "scores").glob("*.npz")
    assert set(ScoreSet.load(file).methods) == {"entropy", "forgetting", "ma_loss"}


def test_one_row_per_cell_with_settings_and_metrics(swept):
    rows = [r for r in _rows(swept[0]) if r["method"] not in ("forgetting", "ma_loss")]
    cells = sorted((r["method"], r["fraction"], r["seed"]) for r in rows)
    assert cells == sorted([("none", 0.0, s) for s in (0, 1)] +
                           [(m, f, s) for m in ("random", "entropy") for f in (0.25, 0.5) for s in (0, 1)])
    for r in rows:
        assert r["score"] == pytest.approx((r["rank1"] + r["mAP"]) / 2)
        assert 0 <= r["mINP"] <= 100 and r["train_seconds"] > 0
        assert r["weights"] == "small from scratch"
        assert r["reidprune"] and r["finished"].endswith("+00:00")
        assert json.loads(r["settings"])["retrain"]["seed"] == r["seed"]
        expected_T = 2 if r["method"] == "entropy" else None
        assert r["score_epochs"] == expected_T
    entropy_cost = json.loads(next(r for r in rows if r["method"] == "entropy")["score_cost"])
    assert entropy_cost["entropy"]["epochs"] == 2


def test_iterations_follow_the_kept_set(swept):
    for r in _rows(swept[0]):
        assert r["kept"] == N - round(r["fraction"] * N)
        assert r["fraction_removed"] == pytest.approx(r["fraction"])
        # one epoch of len(kept) // batch P x K batches: 6, 4 and 3 iterations for 96, 72 and 48 images
        assert r["iterations"] == RETRAIN.epochs * (r["kept"] // BATCH)


def test_progress_shows_cells_done_and_time_left(swept):
    messages = swept[4]
    assert messages[0].startswith("sweep: 10 cells, 3 already in")
    assert any(m.startswith("[4/10]") and "6 to do" in m and "left" in m for m in messages)
    assert any(m.startswith("[10/10]") and "0 to do" in m for m in messages)


def test_report_mean_and_std_match_the_rows(swept):
    out = swept[0]
    files = write_sweep_report(out / "sweep.sqlite")
    names = {f.name for f in files}
    assert {"sweep_summary.json", "sweep_table.md", "sweep_curves.png", "sweep_curves.svg"} <= names
    assert all(f.stat().st_size > 0 for f in files)
    summary = json.loads((out / "sweep_summary.json").read_text())
    rows = _rows(out)
    for method, fraction in (("entropy", 0.25), ("random", 0.5), ("none", 0.0)):  # two seeds each
        scores = [r["score"] for r in rows if r["method"] == method and r["fraction"] == fraction]
        point = next(p for p in summary["points"] if p["method"] == method and p["fraction"] == fraction)
        assert point["seeds"] == [0, 1]
        assert point["score_mean"] == pytest.approx((scores[0] + scores[1]) / 2, abs=1e-4)
        assert point["score_std"] == pytest.approx(abs(scores[0] - scores[1]) / np.sqrt(2), abs=1e-4)
    ledger = summary["cost_ledger"]
    assert ledger["full_training"]["epochs"] == 1
    assert ledger["full_training"]["iterations"] == 6
    assert ledger["methods"]["entropy"]["score_epochs"] == 2
    assert ledger["methods"]["entropy"]["epochs_vs_full"] == 2.0
    assert ledger["methods"]["random"]["score_epochs"] == 0
    assert ledger["methods"]["random"]["by_fraction"]["0.5"]["iterations_saved"] == 0.5
    table = (out / "sweep_table.md").read_text()
    assert "| 25% |" in table and "Cost ledger" in table


def test_other_fixed_settings_are_refused_in_the_same_folder(swept, world):
    out = swept[0]
    longer = SweepOptions(Grid(methods=("random",), fractions=(0.75,), seeds=(0,)), SCORE, RETRAIN.replace(epochs=3))
    with pytest.raises(ReidPruneError, match=r"retrain_config\.epochs: 1 in the file, 3 now"):
        run_sweep(world, out, longer, progress=False, echo=lambda m: None)


def test_at_equal_iterations_a_half_pruned_cell_trains_twice_the_epochs_and_as_many_steps(world, tmp_path):
    grid = Grid(methods=("random",), fractions=(0.5,), seeds=(0,), max_outlier_fraction=1.0)
    options = SweepOptions(grid, SCORE, RETRAIN.replace(milestones=(1,)), equal_iterations=True)
    run_sweep(world, tmp_path, options, progress=False, echo=lambda m: None)
    rows = {r["method"]: r for r in _rows(tmp_path)}
    pruned, full = (json.loads(rows[m]["settings"])["retrain"] for m in ("random", "none"))
    assert (full["epochs"], full["milestones"]) == (1, [1])
    assert (pruned["epochs"], pruned["milestones"]) == (2, [2])
    assert rows["random"]["iterations"] == rows["none"]["iterations"] == N // BATCH  # 48 images x 2 = 96 x 1
    with pytest.raises(ReidPruneError, match="other fixed settings"):  # not mixed with equal-epoch cells
        another_seed = Grid(methods=("random",), fractions=(0.5,), seeds=(1,), max_outlier_fraction=1.0)
        run_sweep(world, tmp_path, SweepOptions(another_seed, SCORE, RETRAIN.replace(milestones=(1,))),
                  progress=False, echo=lambda m: None)
