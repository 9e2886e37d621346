"""The step options the commands build: hand-computed keys, amounts and thresholds."""
import hashlib
import json
from dataclasses import asdict
from types import SimpleNamespace

import numpy as np
import pytest

from reidprune import __version__
from reidprune.errors import ReidPruneError
from reidprune.pipeline.options import ScoreOptions, ScoreRequest, SelectOptions, removal_fraction, select_options
from reidprune.run_key import run_key


def test_score_options_key_is_the_sha256_of_its_parts():
    options = ScoreOptions(methods=("entropy", "random"), every=2)
    blob = json.dumps(["fp", "main", asdict(options), __version__], sort_keys=True, default=str)
    assert options.key("fp", "main") == hashlib.sha256(blob.encode()).hexdigest()[:16]


def test_run_key_hashes_arrays_by_dtype_shape_and_values():
    labels = np.array([0, 1, 2])
    assert run_key(["a", labels]) == run_key(["a", labels.copy()])
    assert run_key(["a", labels]) != run_key(["a", np.array([0, 1, 3])])
    assert run_key(["a", labels]) != run_key(["a", labels.astype(np.int32)])
    assert run_key(["a", labels]) != run_key(["a", labels.reshape(3, 1)])
    assert run_key({"b": 1, "a": 2}) == run_key({"a": 2, "b": 1}) and len(run_key([])) == 16


@pytest.mark.parametrize("fraction, count, expected", [(None, None, 0.3), (0.2, None, 0.2), (None, 5, None)])
def test_removal_fraction(fraction, count, expected):
    assert removal_fraction(fraction, count) == expected
    assert SelectOptions.fraction == 0.3


def test_removal_fraction_refuses_both():
    with pytest.raises(ReidPruneError, match="either --fraction or --count, not both"):
        removal_fraction(0.2, 5)


def test_selection_options_leave_delta_to_the_decision():
    """delta None is resolved once, in decide: the option, else the probes' measure, else the preset's."""
    from reidprune.pipeline.selecting import _delta

    cpu_scores = SimpleNamespace(info={"delta": 0.03})
    options = select_options("entropy", count=5, min_per_identity=2)
    assert (options.delta, options.delta_relative, options.fraction, options.count) == (None, False, None, 5)
    assert options.min_per_identity == 2
    assert _delta(options, cpu_scores, None) == (0.03, False)
    assert _delta(options, cpu_scores, {"delta": 0.012}) == (0.012, False)
    assert select_options("entropy", delta=0.2).delta == 0.2
    assert _delta(select_options("entropy", delta=0.2), cpu_scores, {"delta": 0.01}) == (0.2, False)
    chance = select_options("entropy", delta=0.2, delta_chance=2.0)
    assert (chance.delta, chance.delta_relative, chance.fraction) == (2.0, True, 0.3)
    assert _delta(select_options("el2n"), SimpleNamespace(info={}), None) == (0.10, False)


def test_a_score_request_resolves_the_stop_in_one_place():
    """None becomes default_stop's choice on the set; a stop given passes; "all" is every method."""
    from reidprune.pipeline.options import METHODS, default_stop
    from reidprune.train.config import TrainConfig

    config = TrainConfig(epochs=4, pretrained=True)
    assert ScoreRequest().resolve(config, 3, probes=30, min_probes=30).stop == "probes"
    assert ScoreRequest().resolve(config, 3, probes=29, min_probes=30).stop == "auto" == default_stop(29, True)
    scratch = config.replace(pretrained=False)
    assert ScoreRequest().resolve(scratch, 3, probes=29, min_probes=30).stop == "fixed"
    assert ScoreRequest(stop="fixed").resolve(config, 3, probes=400, min_probes=30).stop == "fixed"
    resolved = ScoreRequest(methods=("all",), score_epochs=2, probe_fraction=0.1).resolve(config, 7, 30, 30)
    assert (resolved.methods, resolved.score_epochs, resolved.seed, resolved.probe_fraction) == (METHODS, 2, 7, 0.1)
