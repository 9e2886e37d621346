"""Property: whatever the options and inputs, the CLI ends with exit 0, or exit 2 and one error line.

Hypothesis drives the real command line (click's CliRunner, in process, so torch is imported
once) with random option values on tiny inputs: a synthetic world of a few images and damaged
copies of it, scores from an earlier `score` run and truncated or edited copies of them, and
outputs of earlier commands. Never a traceback (exit 1), never a hang: training is one epoch
of the small CNN at 16x8 on 12 images.
"""
import itertools
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reidprune.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads; on a shared 2-core machine they only contend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

_counter = itertools.count()


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Datasets (good and damaged), score files (good and damaged) and earlier outputs, made once."""
    root = tmp_path_factory.mktemp("fuzz")
    world = root / "world"
    made = invoke("synth", world, "--train-ids", 3, "--test-ids", 2, "--images-per-id", 4, "--cameras", 2,
                  "--seed", 1)
    assert made.exit_code == 0, made.output
    data = {"world": world}
    for name in ("subfolder", "broken_image", "bad_name", "empty_train", "no_query", "no_train", "odd_files",
                 "not_utf8", "line_break"):
        copy = root / name
        shutil.copytree(world, copy)
        train = copy / "bounding_box_train"
        first = sorted(train.glob("*.jpg"))[0]
        if name == "subfolder":
            (train / "more").mkdir()
            shutil.copy(first, train / "more" / first.name)
        elif name == "broken_image":
            first.write_bytes(first.read_bytes()[:100])
        elif name == "bad_name":
            shutil.copy(first, train / "holiday.jpg")
        elif name == "empty_train":
            shutil.rmtree(train)
            train.mkdir()
        elif name == "no_query":
            shutil.rmtree(copy / "query")
        elif name == "no_train":
            shutil.rmtree(train)
        elif name == "odd_files":  # a dangling link, a folder and a FIFO named like images
            (train / "0001_c1_dangling.jpg").symlink_to(copy / "nowhere.jpg")
            (train / "0001_c1_folder.jpg").mkdir()
            os.mkfifo(train / "0001_c1_fifo.jpg")
        elif name == "not_utf8":
            shutil.copy(first, os.path.join(os.fsencode(train), b"0001_c1_\xe9t\xe9.jpg"))
        elif name == "line_break":
            shutil.copy(first, train / "0001_c1_a\nb.jpg")
        data[name] = copy
    (root / "not_a_dataset").mkdir()
    (root / "not_a_dataset" / "notes.txt").write_text("hello")
    data["not_a_dataset"] = root / "not_a_dataset"

    scored = root / "scored"
    done = invoke("score", world, "--out", scored, "-m", "entropy", "-m", "random", "--preset", "small",
                  "--size", "16x8", "--epochs", "1", "--batch-size", "4", "--instances", "2", "-q")
    assert done.exit_code == 0, done.output
    pruned = root / "pruned"
    done = invoke("prune", world, "--scores", scored / "scores.npz", "--out", pruned, "--max-outlier-fraction", 1)
    assert done.exit_code == 0, done.output
    return {"root": root, "data": data, "scores": scored / "scores.npz", "pruned": pruned}


def _damaged_scores(good: Path, dest: Path, how: str, cut: float, key_index: int) -> Path:
    """A copy of ``good`` truncated, or with one array or the metadata edited."""
    if how == "good":
        return good
    if how == "truncated":
        raw = good.read_bytes()
        dest.write_bytes(raw[:int(len(raw) * cut)])
        return dest
    if how == "random_bytes":
        dest.write_bytes(np.random.default_rng(key_index).bytes(int(1 + 4000 * cut)))
        return dest
    with np.load(good, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    if how == "meta":
        meta = json.loads(str(arrays["meta"]))
        field = sorted(meta)[key_index % len(meta)]
        meta[field] = [None, 1, "x", {}][key_index % 4]
        arrays["meta"] = np.array(json.dumps(meta))
    else:
        key = sorted(k for k in arrays if k != "meta")[key_index % (len(arrays) - 1)]
        value = arrays[key]
        if how == "shorter":
            arrays[key] = value[:max(0, int(len(value) * cut) - 1)] if value.ndim else value
        elif how == "nan":
            arrays[key] = np.full(value.shape, np.nan)
        elif how == "text":
            arrays[key] = np.full(value.shape, "x")
        elif how == "drop":
            del arrays[key]
    with open(dest, "wb") as fh:
        np.savez(fh, **arrays)
    return dest


def _number_text():
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-5, 40).map(str),
                     st.sampled_from(["nan", "inf", "-inf", "1e400", "abc", ""]))


def _size_text():
    return st.one_of(st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda hw: f"{hw[0]}x{hw[1]}"),
                     st.sampled_from(["16x8", "32x16", "x", "8", "16x8x2", "-16x8", "ax b"]))


_SELECT = {
    "--fraction": _number_text(), "--count": st.integers(-2, 20).map(str), "--delta": _number_text(),
    "--delta-chance": _number_text(), "--max-outlier-fraction": _number_text(),
    "--min-per-id": st.integers(-1, 5).map(str), "--class-balance": _number_text(),
}
def _lr_text():
    """Learning rates over fourteen orders of magnitude, and the odd spellings."""
    return st.one_of(st.floats(-8, 6).map(lambda e: f"{10 ** e:.3g}"), _number_text())


_TRAIN = {
    "--size": _size_text(), "--lr": _lr_text(), "--epochs": st.integers(0, 2).map(str),
    "--device": st.sampled_from(["auto", "cpu", "cuda", "cuda:3", "mps", "meta", "tpu", "", "cuda:x"]),
    "--batch-size": st.integers(1, 12).map(str), "--instances": st.integers(0, 5).map(str),
    "--seed": st.integers(-3, 2 ** 33).map(str),
}
_SCORE = {"--every": st.integers(0, 3).map(str), "--score-epochs": st.integers(0, 3).map(str),
          "--stop": st.sampled_from(["probes", "auto", "fixed", "never"])}
_SCORED = ["entropy", "entropy_knn", "random", "forgetting", "aum", "el2n", "grand", "prototypes", "ma_loss",
           "confident", "all", "bogus"]


def _methods(draw):
    """``-m`` repeated: one method, several (shared runs), ``all``, or a bad name among good ones."""
    chosen = draw(st.lists(st.sampled_from(_SCORED), min_size=1, max_size=4))
    return [arg for name in chosen for arg in ("-m", name)]


def _options(table, draw):
    chosen = draw(st.lists(st.sampled_from(sorted(table)), max_size=4, unique=True))
    args = []
    for name in chosen:
        args += [name, draw(table[name])]
    return args


@st.composite
def commands(draw):
    """(command name, how to build its arguments from the module's inputs)."""
    command = draw(st.sampled_from(["prune", "prune", "prune", "score", "score", "run", "train", "report",
                                    "synth"]))
    data = draw(st.sampled_from(["world", "world", "subfolder", "broken_image", "bad_name", "empty_train",
                                 "no_query", "not_a_dataset", "no_train", "odd_files", "not_utf8", "line_break"]))
    scores = (draw(st.sampled_from(["good", "truncated", "random_bytes", "meta", "shorter", "nan", "text",
                                    "drop"])), draw(st.floats(0, 1)), draw(st.integers(0, 50)))
    out = draw(st.sampled_from(["fresh", "fresh", "pruned", "file", "under_file", "dataset"]))
    # the small CNN, or the default preset (ImageNet MobileNetV2, probes / adaptive stop) at its smallest input
    preset = draw(st.sampled_from(["small", "small", "auto"]))
    size = "16x8" if preset == "small" else "64x32"
    tiny = ["--preset", preset, "--size", size, "--epochs", "1", "--batch-size", "4", "--instances", "2", "-q"]
    if command == "prune":
        options = _options(_SELECT, draw) + ["--method", draw(st.sampled_from(["entropy", "random", "nope"]))]
    elif command == "score":
        options = tiny + _options({**_TRAIN, **_SCORE}, draw) + _methods(draw)
    elif command in ("run", "train"):
        extra = draw(st.booleans())
        options = tiny + _options(_TRAIN, draw) + (_options(_SELECT, draw) if command == "run" and extra else [])
        if command == "run" and draw(st.booleans()):
            options += ["-m", draw(st.sampled_from(["entropy", "entropy_knn", "random"]))]
        if command == "run" and draw(st.booleans()):
            options += ["--materialize", draw(st.sampled_from(["fresh_copy", "dataset", "pruned"]))]
        if draw(st.booleans()):
            options += ["--skip-bad-images"]
    elif command == "synth":
        options = ["--train-ids", draw(st.integers(0, 4)), "--test-ids", draw(st.integers(0, 2)),
                   "--images-per-id", draw(st.integers(0, 3)), "--cameras", draw(st.integers(0, 3)),
                   "--mislabel-rate", draw(_number_text()), "--outlier-rate", draw(_number_text())]
        if draw(st.booleans()):
            options.append("--overwrite")
    else:
        options = ["--delta", draw(_number_text()), "--per-group", draw(st.integers(0, 3))]
    return command, data, scores, out, options


def _copy_tree(source: Path, dest: Path) -> None:
    """A copy that keeps the odd entries odd: links as links (dangling ones too), FIFOs as FIFOs."""
    import stat

    def copy(src, dst):
        if stat.S_ISFIFO(os.lstat(src).st_mode):
            os.mkfifo(dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, dest, symlinks=True, copy_function=copy)


def _resolve(inputs, command, data, scores, out, options):
    work = inputs["root"] / f"case{next(_counter)}"
    work.mkdir()
    data_path = inputs["data"][data]
    places = {"fresh": work / "out", "pruned": inputs["pruned"], "dataset": data_path,
              "fresh_copy": work / "copy", "file": work / "a_file", "under_file": work / "a_file" / "out"}
    (work / "a_file").write_text("not a folder")
    # never let a case write into the shared inputs: copy the earlier output first
    if out == "pruned" or "pruned" in options:
        _copy_tree(inputs["pruned"], work / "pruned")
        places["pruned"] = work / "pruned"
    if out == "dataset" or "dataset" in options:
        _copy_tree(data_path, work / "data")
        data_path = places["dataset"] = work / "data"
    options = [str(places[o]) if isinstance(o, str) and o in places and o != "file" else o for o in options]
    target = places[out]
    score_file = _damaged_scores(inputs["scores"], work / "scores.npz", *scores)
    if command == "prune":
        return ["prune", data_path, "--scores", score_file, "--out", target, *options]
    if command in ("score", "run", "train"):
        return [command, data_path, "--out", target, *options]
    if command == "synth":
        return ["synth", target, *options]
    return ["report", places["pruned"] if out == "pruned" else target, "--data", data_path, *options]


# No shrinking: every example is a CLI run of up to a few seconds, and the failing command line
# is printed whole anyway.
@settings(max_examples=int(os.environ.get("REIDPRUNE_FUZZ_EXAMPLES", 40)), deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=commands())
def test_cli_ends_with_success_or_one_error_line(inputs, case):
    args = _resolve(inputs, *case)
    result, shown = _run_cleanly(args)
    if result.exit_code == 0 and args[0] in ("score", "run"):  # success: no silent garbage in what was written
        _check_scores(Path(args[args.index("--out") + 1]) / "scores.npz", shown)


def _run_cleanly(args):
    """Run one command line; it must end with exit 0, or exit 2 and exactly one error line, never a
    traceback. Returns the result and the command line with its output (for failure messages)."""
    result = invoke(*args)
    shown = f"reidprune {' '.join(map(str, args))}\n{result.output}"
    if os.environ.get("REIDPRUNE_FUZZ_LOG"):  # a summary line per case, to see what the fuzz reaches
        with open(os.environ["REIDPRUNE_FUZZ_LOG"], "a") as log:
            log.write(f"{result.exit_code} {args[0]} {result.output.strip().splitlines()[-1:]}\n")
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        shown + "".join(__import__("traceback").format_exception(result.exception))
    assert result.exit_code in (0, 2) and "Traceback" not in result.output, shown
    if result.exit_code == 2:  # ours ("error: ") or click's usage errors ("Error: ")
        assert sum(line.startswith(("error: ", "Error: ")) for line in result.output.splitlines()) == 1, shown
    return result, shown


def _check_scores(path: Path, shown: str) -> None:
    from reidprune.scores.store import ScoreSet

    scores = ScoreSet.load(path)
    for name, method in scores.methods.items():
        assert np.isfinite(method.importance).all(), f"{name}: non-finite importance\n{shown}"
        assert len(method.importance) == len(scores.paths), shown


@st.composite
def trainings(draw):
    """`score` / `run` with options that reach training: method lists, devices, learning rates over fourteen
    orders of magnitude, both presets, the stop rules, on the good world and on one with odd files."""
    command = draw(st.sampled_from(["score", "score", "run"]))
    data = draw(st.sampled_from(["world", "odd_files"]))
    preset = draw(st.sampled_from(["small", "auto"]))
    size = "16x8" if preset == "small" else "64x32"
    options = ["--preset", preset, "--size", size, "--epochs", str(draw(st.integers(1, 2))), "--batch-size", "4",
               "--instances", "2", "-q", "--lr", draw(st.floats(-8, 6).map(lambda e: f"{10 ** e:.3g}")),
               "--device", draw(st.sampled_from(["auto", "cpu", "cpu", "cuda", "cuda:1", "mps"])),
               "--stop", draw(st.sampled_from(["probes", "auto", "fixed"])), "--mode",
               draw(st.sampled_from(["reid", "classify"]))]
    if command == "score":
        options += _methods(draw) + ["--folds", "2", "--score-epochs", "1"]
    else:
        options += ["-m", draw(st.sampled_from(["entropy", "entropy_knn"])), "--max-outlier-fraction", "1"]
    return command, data, options


@settings(max_examples=int(os.environ.get("REIDPRUNE_FUZZ_TRAININGS", 25)), deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=trainings())
def test_trainings_end_cleanly_or_in_one_error_line(inputs, case):
    command, data, options = case
    work = inputs["root"] / f"case{next(_counter)}"
    args = [command, inputs["data"][data], "--out", work / "out", *options]
    result, shown = _run_cleanly(args)
    if result.exit_code == 0:
        _check_scores(work / "out" / "scores.npz", shown)
        if data == "odd_files":
            assert "not readable files" in result.output, shown  # the odd entries were counted aloud
