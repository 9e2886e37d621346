"""The sweep grid: cells, their normalisation, grid files (no training)."""
import json

import pytest

from reidprune.errors import ReidPruneError
from reidprune.experiments.grid import Cell, Grid, MethodSpec, expand_grid
from reidprune.experiments.sweep import build_grid


def test_cells_are_methods_x_fractions_x_seeds_plus_one_baseline_per_seed():
    grid = Grid(methods=("random", "entropy"), fractions=(0.1, 0.3), seeds=(0, 1, 2), score_epochs=(12,))
    cells = expand_grid(grid)
    assert len(cells) == 3 + 2 * 2 * 3
    assert [c.method for c in cells[:3]] == ["none"] * 3
    assert {c.seed for c in cells if c.method == "none"} == {0, 1, 2}
    # random depends on neither T nor the accumulation frequency nor delta
    random = [c for c in cells if c.method == "random"]
    assert {(c.score_epochs, c.every, c.delta) for c in random} == {(None, None, None)}
    ours = [c for c in cells if c.method == "entropy"]
    assert {(c.score_epochs, c.every, c.delta) for c in ours} == {(12, 1, None)}


def test_settings_a_method_ignores_do_not_multiply_its_cells():
    grid = Grid(methods=("random", "entropy+purify", "forgetting"), fractions=(0.2,), seeds=(0,),
                score_epochs=(6, 12), every=(1, 2), delta=(0.05, 0.1))
    cells = expand_grid(grid)
    counts = {m: sum(c.method == m for c in cells) for m in ("none", "random", "entropy+purify", "forgetting")}
    assert counts == {"none": 1, "random": 1, "entropy+purify": 2 * 2 * 2, "forgetting": 1}


def test_fraction_zero_is_the_baseline_unless_purifying():
    grid = Grid(methods=("random", "entropy+purify"), fractions=(0.0, 0.2), seeds=(0,), noise=(0.0, 0.2),
                score_epochs=(12,))
    cells = expand_grid(grid)
    assert sum(c.method == "none" for c in cells) == 2  # one per noise ratio, not repeated by random at 0
    assert sum(c.method == "entropy+purify" and c.fraction == 0 for c in cells) == 2
    assert len({c.key() for c in cells}) == len(cells)


def test_cell_keys_depend_on_every_setting():
    a = Cell("entropy", 0.2, 0, 0.0, 12, 1, None)
    assert a.key() == Cell("entropy", 0.2, 0, 0.0, 12, 1, None).key()
    assert a.key() != Cell("entropy", 0.2, 1, 0.0, 12, 1, None).key()
    assert a.key() != Cell("entropy", 0.2, 0, 0.0, 6, 1, None).key()


@pytest.mark.parametrize("text, parsed", [("entropy+purify", MethodSpec("entropy", 1, True)),
                                          ("entropy+balance", MethodSpec("entropy", 1, False, True)),
                                          ("entropy+balance+purify", MethodSpec("entropy", 1, True, True)),
                                          ("el2n:20", MethodSpec("el2n", 20, False)),
                                          ("EL2N", MethodSpec("el2n")), ("none", MethodSpec("none"))])
def test_method_specs(text, parsed):
    assert MethodSpec.parse(text) == parsed
    assert MethodSpec.parse(parsed.name) == parsed


@pytest.mark.parametrize("text", ["ours", "forgetting:3", "el2n:0", "el2n:x", "entropy+balanced",
                                  "entropy+purify+purify", "none+balance"])
def test_bad_method_specs_are_refused(text):
    with pytest.raises(ReidPruneError, match="method"):
        MethodSpec.parse(text)


def test_purification_needs_our_scores_and_random_needs_none():
    assert MethodSpec.parse("aum+purify").scoring_methods == ("aum", "entropy")
    assert MethodSpec.parse("random").scoring_methods == ()


@pytest.mark.parametrize("values, message", [({"fractions": (20,)}, "fractions"), ({"seeds": ()}, "seeds"),
                                             ({"noise": (1.0,)}, "noise"), ({"every": (0,)}, "every")])
def test_bad_grids_are_refused(values, message):
    with pytest.raises(ReidPruneError, match=message):
        Grid(**values)


def test_grid_file_with_command_line_overrides(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps({"methods": ["random", "entropy+purify"], "fractions": [0.1, 0.5], "seeds": [0, 1]}))
    grid = build_grid(path, fractions="0.2,0.3", seeds=None, methods=())
    assert grid.methods == ("random", "entropy+purify")
    assert grid.fractions == (0.2, 0.3)
    assert grid.seeds == (0, 1)
    toml = tmp_path / "grid.toml"
    toml.write_text('methods = ["entropy"]\nnoise = [0.0, 0.2]\nscore_per_seed = true\n')
    grid = build_grid(toml)
    assert (grid.methods, grid.noise, grid.score_per_seed) == (("entropy",), (0.0, 0.2), True)


def test_grid_file_errors_name_the_file(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text('{"fractons": [0.1]}')
    with pytest.raises(ReidPruneError, match="grid.json.*fractons"):
        build_grid(path)
    path.write_text("{not json")
    with pytest.raises(ReidPruneError, match="grid.json"):
        build_grid(path)


def test_sweep_command_dry_run_counts_the_cells(tmp_path):
    from click.testing import CliRunner

    from reidprune.cli import main
    from reidprune.data.synth import SynthConfig, generate_world

    world = generate_world(tmp_path / "world", SynthConfig(num_train_ids=4, num_test_ids=2, images_per_id=4,
                                                           test_images_per_id=4, num_distractors=0, height=32,
                                                           width=16), progress=False)
    grid = tmp_path / "grid.json"
    grid.write_text('{"methods": ["random", "entropy+purify"], "seeds": [0, 1, 2]}')
    result = CliRunner().invoke(main, ["sweep", str(world), "--out", str(tmp_path / "out"), "--grid", str(grid),
                                       "--fractions", "0,0.2", "--seeds", "0,1", "--dry-run", "--preset", "cpu"])
    assert result.exit_code == 0, result.output
    # baselines 2 + random at 20% x 2 seeds + entropy+purify at 0% and 20% x 2 seeds
    assert "sweep: 8 cells, 0 already in" in result.output
    assert "random: 2 cells to do" in result.output and "entropy+purify: 4 cells to do" in result.output
    result = CliRunner().invoke(main, ["sweep", str(world), "--out", str(tmp_path / "out"), "-m", "ours"])
    assert result.exit_code == 2 and "unknown method 'ours'" in result.output


def test_balance_prunes_with_the_class_balancing_ratio_and_prototypes_always_do():
    from reidprune.experiments.sweep import select_options

    grid = Grid()
    balance = {m: select_options(Cell(m, 0.3, 0, 0.0), grid).class_balance
               for m in ("entropy", "entropy+balance", "entropy+purify+balance", "prototypes", "random")}
    assert balance == {"entropy": 0.0, "entropy+balance": 0.5, "entropy+purify+balance": 0.5, "prototypes": 0.5,
                       "random": 0.0}
    options = select_options(Cell("entropy+purify+balance", 0.3, 2, 0.0, 12, 1, 0.05), grid)
    assert (options.method, options.fraction, options.purify, options.delta, options.seed) == \
        ("entropy", 0.3, True, 0.05, 2)
