"""The regime grid's per-cell targets and their counts (bench/regime_grid.py), on hand-made cells."""
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "regime_grid.py"


@pytest.fixture(scope="module")
def grid():
    spec = importlib.util.spec_from_file_location("regime_grid", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cell(f1, oracle, aum, flagged=10, precision=0.8, recall=0.6, est=(0.82, 0.5, 0.25), noise=0.2):
    return {"noise": noise, "true_noise_rate": 0.2, "train_images": 1000,
            "default": {"f1": f1, "flagged": flagged, "precision": precision, "recall": recall,
                        "outliers_of_clean": 0.01},
            "oracle": {"f1": oracle}, "aum_same_run": {"f1": aum},
            "estimated": {"precision": est[0], "recall": est[1], "noise_rate": est[2]}}


def test_marks_are_the_issue_targets(grid):
    marks = grid.check_marks(cell(0.90, 1.0, 0.91))
    # 0.90 >= 0.9 x 1.0; 0.90 < AUM 0.91; |0.82-0.8| <= 0.05; |0.5-0.6| > 0.05; |0.25-0.2| <= 0.05
    assert marks == {"0.9 oracle": True, ">= AUM": False, "outliers": True, "est P": True, "est R": False,
                     "est noise": True}


def test_no_flags_leaves_precision_and_recall_out(grid):
    assert "est P" not in grid.check_marks(cell(0.0, 0.3, 0.0, flagged=0))


def test_clean_cell_checks_flags_outliers_and_noise_rate(grid):
    clean = cell(0.0, 0.0, 0.0, flagged=25, noise=0.0)  # 25 of 1000 flagged: not under 2%
    clean["true_noise_rate"] = 0.0
    assert grid.check_marks(clean) == {"flags < 2%": False, "outliers": True, "est noise": False}


def test_totals_count_each_target_over_the_cells_it_applies_to(grid):
    text = grid.totals([cell(0.90, 1.0, 0.91), cell(0.5, 1.0, 0.4), cell(0.0, 0.3, 0.0, flagged=0)])
    lines = dict(line.split(": ") for line in text.splitlines())
    assert lines["0.9 oracle"] == "1 of 3" and lines[">= AUM"] == "2 of 3" and lines["est P"] == "2 of 2"


def test_a_cells_own_role_comes_before_the_table_of_roles(grid):
    cell = {"set": "cuhk03", "noise": 0.2, "kind": "pair", "seed": 0}
    assert grid.role(cell) == "seen"  # the not-random-kind rule was designed on it
    assert grid.role(dict(cell, seed=7)) == "held out"
    assert grid.role(dict(cell, role="held out, session 6")) == "held out, session 6"


def test_aum_at_its_best_run_length_is_a_separate_mark(grid):
    marks = grid.check_marks(dict(cell(0.90, 1.0, 0.85), aum_best={"f1": 0.93, "epochs": 3}))
    assert marks[">= AUM"] and not marks[">= AUM best"]
    assert ">= AUM best" not in grid.check_marks(cell(0.90, 1.0, 0.85))


def test_aum_at_best_length_by_hand(grid):
    import numpy as np

    # 4 samples seen once an epoch; sample 0 is mislabeled: its margin is negative for 2 epochs, then memorised
    margins = np.array([[-1.0, 1, 1, -1], [-1.0, 1, 1, 1], [5.0, 1, 1, 1]])
    counts = np.ones((3, 4), int)
    flipped = np.array([True, False, False, False])
    best = grid.aum_at_best_length(margins, counts, np.ones(4, bool), flipped)
    # T=1 flags 0 and 3 (F1 2/3); T=2 flags 0 only (F1 1); T=3: AUM of sample 0 is +1, none flagged
    assert best == {"flagged": 1, "precision": 1.0, "recall": 1.0, "f1": 1.0, "epochs": 2}
