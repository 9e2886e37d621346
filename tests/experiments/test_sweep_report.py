"""Sweep summaries, cost ledger and figures from hand-written rows (no training)."""
import json

import pytest
from click.testing import CliRunner

from reidprune.cli import main
from reidprune.errors import ReidPruneError
from reidprune.experiments.db import SweepDB
from reidprune.experiments.grid import Cell
from reidprune.experiments.sweep_report import cost_ledger, mean_std, summarize, write_sweep_report

MAIN = {"epochs": 12, "seconds": 30.0, "runs": 1, "shared_run": "main"}


def _row(method, fraction, seed, noise, score, seconds, iterations, **cell):
    c = Cell(method, fraction, seed, noise, **cell)
    cost = {} if method in ("none", "random") else {"entropy": MAIN}
    if method == "forgetting+purify":
        cost = {"forgetting": {**MAIN, "epochs": 30, "seconds": 75.0}, "entropy": MAIN}
    return {**c.settings(), "key": c.key(), "fraction_removed": fraction, "kept": int(100 * (1 - fraction)),
            "relabelled": 0, "outliers": 0, "iterations": iterations, "rank1": score + 1, "mAP": score - 1,
            "mINP": score / 2, "score": score, "metrics": {}, "train_seconds": seconds, "cell_seconds": seconds + 1,
            "scores_file": None if method in ("none", "random") else "scores/a.npz", "score_cost": cost,
            "weights": "small from scratch", "settings": {}, "reidprune": "0.1.0", "finished": "2026-01-01T00:00:00+00:00"}


ROWS = [
    _row("none", 0.0, 0, 0.0, 80.0, 100.0, 600), _row("none", 0.0, 1, 0.0, 84.0, 102.0, 600),
    _row("none", 0.0, 2, 0.0, 82.0, 98.0, 600),
    _row("entropy+purify", 0.0, 0, 0.0, 85.0, 100.0, 600, score_epochs=12, every=1, delta=0.1),
    _row("entropy+purify", 0.0, 1, 0.0, 86.0, 100.0, 600, score_epochs=12, every=1, delta=0.1),
    _row("entropy+purify", 0.3, 0, 0.0, 81.0, 70.0, 420, score_epochs=12, every=1, delta=0.1),
    _row("entropy+purify", 0.3, 1, 0.0, 83.0, 70.0, 420, score_epochs=12, every=1, delta=0.1),
    _row("random", 0.3, 0, 0.0, 70.0, 72.0, 420), _row("random", 0.3, 1, 0.0, 74.0, 68.0, 420),
    _row("none", 0.0, 0, 0.2, 60.0, 100.0, 600), _row("none", 0.0, 1, 0.2, 62.0, 100.0, 600),
    _row("entropy+purify", 0.0, 0, 0.2, 75.0, 100.0, 600, score_epochs=12, every=1, delta=0.1),
    _row("entropy+purify", 0.0, 1, 0.2, 77.0, 100.0, 600, score_epochs=12, every=1, delta=0.1),
    _row("forgetting+purify", 0.3, 0, 0.0, 79.0, 70.0, 420, score_epochs=12, every=1, delta=0.1),
]
SETUP = {"dataset": "/data/world", "train_images": 100, "retrain_config": {"epochs": 30, "backbone": "small",
                                                                          "height": 64, "width": 32}}


def test_mean_and_sample_std():
    assert mean_std([80.0, 84.0, 82.0]) == (82.0, 2.0)
    assert mean_std([5.0]) == (5.0, 0.0)


def test_points_average_over_seeds():
    points = summarize(ROWS)
    base = next(p for p in points if p["method"] == "none" and p["noise"] == 0)
    assert (base["seeds"], base["score_mean"], base["score_std"]) == ([0, 1, 2], 82.0, 2.0)
    assert (base["rank1_mean"], base["mAP_mean"], base["mINP_mean"]) == (83.0, 81.0, 41.0)
    ours = next(p for p in points if p["method"] == "entropy+purify" and p["fraction"] == 0.3)
    assert (ours["score_mean"], ours["score_std"]) == (82.0, pytest.approx(2 ** 0.5, abs=1e-4))
    assert ours["iterations_mean"] == 420


def test_cost_ledger_against_one_full_training():
    ledger = cost_ledger(ROWS, SETUP)
    # full training: the noise-free baselines: 30 epochs, (100 + 102 + 98) / 3 s, 600 iterations
    assert ledger["full_training"] == {"epochs": 30, "seconds": 100.0, "iterations": 600.0}
    ours = ledger["methods"]["entropy+purify"]
    assert (ours["score_epochs"], ours["score_seconds"]) == (12, 30.0)
    assert (ours["epochs_vs_full"], ours["seconds_vs_full"]) == (0.4, 0.3)
    assert ours["by_fraction"]["0.3"] == {"train_seconds": 70.0, "iterations": 420.0, "time_saved": 0.3,
                                          "iterations_saved": 0.3}
    # forgetting's 30-epoch main run also carries our recorder: one run, paid once
    assert ledger["methods"]["forgetting+purify"]["score_epochs"] == 30
    assert ledger["methods"]["random"]["score_seconds"] == 0


def test_report_files_and_noise_figure(tmp_path):
    db_path = tmp_path / "sweep.sqlite"
    with SweepDB(db_path) as db:
        db.check_setup(SETUP)
        for row in ROWS:
            db.add_cell(row)
    files = write_sweep_report(db_path, tmp_path / "report")
    names = sorted(f.name for f in files)
    assert names == sorted(["sweep_summary.json", "sweep_table.md", "sweep_curves_noise0.png",
                            "sweep_curves_noise0.svg", "sweep_curves_noise0.2.png", "sweep_curves_noise0.2.svg",
                            "sweep_noise.png", "sweep_noise.svg"])
    assert (tmp_path / "report" / "sweep_noise.svg").read_text().lstrip().startswith("<?xml")
    table = (tmp_path / "report" / "sweep_table.md").read_text()
    assert "| 0% | 82.00 \u00b1 2.00 (3) | 85.50 \u00b1 0.71 (2) |" in table
    assert "| entropy+purify | 12 | 30.0 | 0.40 | 0.30 | 0% (0% it.) | 30% (30% it.) |" in table
    summary = json.loads((tmp_path / "report" / "sweep_summary.json").read_text())
    assert summary["cells"] == len(ROWS)


def test_sweep_plot_command_and_errors(tmp_path):
    db_path = tmp_path / "sweep.sqlite"
    with SweepDB(db_path) as db:
        db.check_setup(SETUP)
        for row in ROWS[:9]:
            db.add_cell(row)
    result = CliRunner().invoke(main, ["sweep-plot", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "sweep_curves.png" in result.output and (tmp_path / "sweep_curves.svg").is_file()
    empty = tmp_path / "empty.sqlite"
    SweepDB(empty).close()
    result = CliRunner().invoke(main, ["sweep-plot", str(empty)])
    assert result.exit_code == 2 and "holds no finished cells" in result.output


def test_a_setup_change_is_refused_with_what_differs(tmp_path):
    with SweepDB(tmp_path / "s.sqlite") as db:
        db.check_setup(SETUP)
        db.check_setup({**SETUP, "device": "cuda"})  # runtime-only: accepted
        with pytest.raises(ReidPruneError, match=r"retrain_config\.epochs: 30 in the file, 60 now"):
            db.check_setup({**SETUP, "retrain_config": {**SETUP["retrain_config"], "epochs": 60}})


def test_paired_differences_by_hand():
    """entropy+purify at 30% vs random at 30%: seeds 81-70 = 11 and 83-74 = 9; mean 10, sd sqrt(2),
    t(0.975, 1) = 12.706: interval 10 +/- 12.706. Against the unpruned run of each seed: 81-80, 83-84."""
    from reidprune.experiments.sweep_report import paired_differences, paired_table

    to_random = {(d["method"], d["fraction"]): d for d in paired_differences(ROWS, "random")}
    ours = to_random[("entropy+purify", 0.3)]
    assert (ours["n"], ours["mean"], ours["diffs"]) == (2, 10.0, {0: 11.0, 1: 9.0})
    assert ours["low"] == pytest.approx(10 - 12.7062, abs=1e-3) and ours["high"] == pytest.approx(22.7062, abs=1e-3)
    forgetting = to_random[("forgetting+purify", 0.3)]
    assert (forgetting["n"], forgetting["mean"], forgetting["low"]) == (1, 9.0, None)
    assert ("entropy+purify", 0.0) not in to_random  # random has no 0% cell to pair with
    to_full = {(d["method"], d["fraction"], d["noise"]): d for d in paired_differences(ROWS, "none")}
    assert to_full[("entropy+purify", 0.3, 0.0)]["diffs"] == {0: 1.0, 1: -1.0}
    assert to_full[("random", 0.3, 0.0)]["mean"] == -10.0  # 70-80, 74-84
    assert to_full[("entropy+purify", 0.0, 0.2)]["mean"] == 15.0
    lines = paired_table(list(to_random.values()), "title")
    assert "| entropy+purify | +10.00 [-2.71, +22.71] (2) |" in lines
