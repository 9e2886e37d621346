"""The method registry: one table the CLI and the scheduler both read, importable without torch."""
import subprocess
import sys

from reidprune.scores.registry import CE_RUNS, FULL_RUN, MAIN_RUN, METHODS, REGISTRY, USES_T


def test_the_registry_groups_methods_by_their_training_run():
    assert METHODS == ("entropy", "entropy_knn", "random", "el2n", "grand", "forgetting", "prototypes", "ma_loss",
                       "aum", "confident")
    assert MAIN_RUN == ("entropy", "entropy_knn", "forgetting", "prototypes", "ma_loss", "aum")
    assert CE_RUNS == ("el2n", "grand")
    assert FULL_RUN == ("forgetting", "prototypes", "ma_loss", "aum")
    assert USES_T == ("entropy", "entropy_knn", "el2n", "grand", "confident")
    assert {m.run for m in REGISTRY.values()} == {"main", "ce", "none", "folds"}
    assert all(m.summary for m in REGISTRY.values())


def test_the_command_line_offers_exactly_the_registry():
    from reidprune.commands.pruning import score

    choices = next(p for p in score.params if p.name == "methods").type.choices
    assert tuple(choices) == METHODS + ("all",)


def test_registry_presets_and_options_import_without_numpy_or_torch():
    code = ("import sys, reidprune.scores.registry, reidprune.presets, reidprune.pipeline.options, "
            "reidprune.validation.paths, reidprune.models.names; "
            "print('torch' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
