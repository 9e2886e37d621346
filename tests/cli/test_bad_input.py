"""Issue 8: every bad input ends in one `error:` line (exit 2), a `warning:` line or a documented
behaviour; never a traceback, a silently wrong result or a check that comes after training."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from reidprune.cli import DEFAULTS, main
from reidprune.errors import ReidPruneError
from reidprune.models.weights import guess_architecture
from reidprune.models.reid import build_model
from reidprune.scores.store import MethodScores, ScoreSet

TINY = ["--preset", "small", "--size", "16x8", "--epochs", "1", "--batch-size", "8", "--instances", "2", "-q"]
SRC = str(Path(__file__).resolve().parents[2] / "src")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_error(result, *needles):
    """Exit 2, exactly one `error:` line and no traceback; each needle appears in that line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("bad") / "world"
    result = invoke("synth", out, "--train-ids", 4, "--test-ids", 2, "--images-per-id", 4, "--cameras", 2)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def scored(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    result = invoke("score", world, "--out", out, "-m", "entropy", "-m", "random", *TINY)
    assert result.exit_code == 0, result.output
    return out / "scores.npz"


# ----------------------------------------------------------------------------- tracebacks before

def test_truncated_scores_file(world, scored, tmp_path):
    bad = tmp_path / "scores.npz"
    bad.write_bytes(scored.read_bytes()[:300])
    with pytest.raises(zipfile.BadZipFile):  # what used to escape
        np.load(bad)
    assert_error(invoke("prune", world, "--scores", bad, "--out", tmp_path / "o"), str(bad), "reidprune score")


def test_scores_with_arrays_of_the_wrong_length(world, scored, tmp_path):
    scores = ScoreSet.load(scored)
    scores.methods["random"].importance = scores.methods["random"].importance[:-3]
    bad = tmp_path / "scores.npz"
    scores.save(bad)
    assert_error(invoke("prune", world, "--scores", bad, "--out", tmp_path / "o", "--no-purify", "-m", "random"),
                 "random/importance has 13 rows, expected 16")


def test_out_under_a_regular_file(world, scored, tmp_path):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out"
    assert_error(invoke("prune", world, "--scores", scored, "--out", out), "is a file, not a folder")
    assert_error(invoke("run", world, "--out", out, *TINY), "is a file, not a folder")
    assert_error(invoke("synth", out), "file")


def test_read_only_output_folder(world, scored, tmp_path, monkeypatch):
    # tests may run as root, for whom chmod does not bite: make the folder read-only to os.access
    out = tmp_path / "ro"
    out.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == out and mode & os.W_OK
                        else real_access(p, mode, **kw))
    for args in (("prune", world, "--scores", scored, "--out", out), ("run", world, "--out", out, *TINY)):
        assert_error(invoke(*args), str(out), "not writable")
    assert_error(invoke("report", out, "--data", world), str(out), "not writable")


def test_permission_error_deep_inside_is_one_line(world, scored, tmp_path, monkeypatch):
    import reidprune.pipeline.selecting as selecting

    def refuse(path, obj):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(selecting, "write_json", refuse)
    assert_error(invoke("prune", world, "--scores", scored, "--out", tmp_path / "o"), "selection.json",
                 "Permission denied")


def test_size_too_small_for_the_backbone(world, tmp_path):
    line = assert_error(invoke("score", world, "--out", tmp_path, *TINY, "--size", "2x2"), "--size 2x2", "small")
    assert "at least 8" in line
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("lr", ["nan", "inf", "-1", "0"])
def test_bad_learning_rate(world, tmp_path, lr):
    result = invoke("score", world, "--out", tmp_path, *TINY, "--lr", lr)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--lr" in result.output


def test_every_larger_than_the_window(world, tmp_path):
    assert_error(invoke("score", world, "--out", tmp_path, *TINY, "--every", 5, "--epochs", 2),
                 "--every 5", "2-epoch")


# ----------------------------------------------------------------------------- silent or wrong before

def test_count_removing_the_whole_set(world, scored, tmp_path):
    assert_error(invoke("prune", world, "--scores", scored, "--out", tmp_path / "o", "--count", 16),
                 "--count 16", "16 training images")
    assert not (tmp_path / "o" / "manifest.csv").exists()
    # in `run`, before any training
    result = invoke("run", world, "--out", tmp_path / "r", "--count", 99, *TINY)
    assert_error(result, "--count 99")
    assert not (tmp_path / "r" / "scores.npz").exists()


def test_images_in_a_subfolder_are_counted_and_recorded(world, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(world, data)
    sub = data / "bounding_box_train" / "extra"
    sub.mkdir()
    first = sorted((data / "bounding_box_train").glob("*.jpg"))[0]
    shutil.copy(first, sub / first.name)
    shutil.copy(first, sub / ("x" + first.name))
    result = invoke("run", data, "--out", tmp_path / "o", *TINY, "--max-outlier-fraction", 1)
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "sub-folders" in line]
    assert warned and warned[0].startswith("warning: ") and "skipped 2 image(s)" in warned[0]
    assert "SkippedFilesWarning" not in result.output  # no Python warning source lines
    summary = json.loads((tmp_path / "o" / "selection.json").read_text())
    assert summary["skipped_files"] == {"in_subfolder": 2}
    assert ScoreSet.load(tmp_path / "o" / "scores.npz").info["skipped_files"] == {"in_subfolder": 2}


def test_second_command_on_a_locked_output_fails(world, scored, tmp_path):
    from filelock import FileLock

    out = tmp_path / "o"
    out.mkdir()
    with FileLock(str(out / ".reidprune.lock")):  # another command holds the folder
        assert_error(invoke("prune", world, "--scores", scored, "--out", out), "another reidprune command",
                     str(out))
        assert not (out / "manifest.csv").exists()
    result = invoke("prune", world, "--scores", scored, "--out", out, "--max-outlier-fraction", 1)
    assert result.exit_code == 0, result.output


def test_lock_holds_across_processes(world, scored, tmp_path):
    out = tmp_path / "o"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filelock import FileLock; "
         f"l = FileLock({str(out / '.reidprune.lock')!r}); l.acquire(); print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    out.mkdir()
    try:
        assert holder.stdout.readline().strip() == "held"
        assert_error(invoke("prune", world, "--scores", scored, "--out", out), "another reidprune command")
    finally:
        holder.kill()
        holder.wait()


def test_synth_overwrite_refuses_a_folder_that_is_not_a_world(world, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    assert_error(invoke("synth", precious, "--overwrite"), "not a synthetic world")
    assert (precious / "thesis.tex").read_text() == "years of work"
    line = assert_error(invoke("synth", precious))
    assert "--overwrite" in line and "overwrite=True" not in line
    again = tmp_path / "again"
    assert invoke("synth", again, "--train-ids", 2, "--test-ids", 1, "--images-per-id", 2).exit_code == 0
    result = invoke("synth", again, "--overwrite", "--train-ids", 2, "--test-ids", 1, "--images-per-id", 2)
    assert result.exit_code == 0, result.output


def _handmade_scores(relabel: int, n: int = 20, classes: int = 4) -> ScoreSet:
    """Scores whose soft labels are confident and disagree with the label on ``relabel`` samples."""
    labels = np.arange(n) % classes
    predicted = labels.copy()
    predicted[:relabel] = (labels[:relabel] + 1) % classes
    logits = np.full((n, classes), -5.0)
    logits[np.arange(n), predicted] = 5.0
    scores = ScoreSet("f", np.array([f"p{i}.jpg" for i in range(n)]), labels, np.ones(n, int), labels,
                      np.arange(classes))
    scores.add(MethodScores("entropy", np.linspace(0, 1, n), {"score_epochs": 1, "every": 1},
                            extras={"mean_logits": logits}))
    return scores


def test_mass_relabelling_warns_and_is_recorded():
    from reidprune.pipeline.selecting import SelectOptions, decide

    many = decide(_handmade_scores(relabel=12), SelectOptions(fraction=0.1))
    assert any("relabelled" in w and "under-trained" in w for w in many.warnings)
    few = decide(_handmade_scores(relabel=1), SelectOptions(fraction=0.1))
    assert not any("relabelled" in w for w in few.warnings)


def test_never_recorded_message_names_the_sampler():
    from reidprune.pipeline.selecting import unrecorded_message

    every1 = unrecorded_message(3, {"every": 1, "score_epochs": 2})
    assert "P x K identity sampler" in every1 and "--every >" not in every1 and "--every" not in every1
    every3 = unrecorded_message(3, {"every": 3, "score_epochs": 6})
    assert "--every 3" in every3


# ----------------------------------------------------------------------------- too late before

def test_run_refuses_materialize_targets_before_training(world, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    for target, needle in ((full, "not empty"), (world, "overlaps the dataset"),
                           (world / "bounding_box_train", "overlaps the dataset")):
        out = tmp_path / f"o{len(needle)}"
        result = invoke("run", world, "--out", out, *TINY, "--materialize", target)
        assert_error(result, "--materialize", needle)
        assert "scoring" not in result.output and not (out / "scores.npz").exists()


def test_run_failing_after_scoring_says_how_to_reuse_the_scores(world, tmp_path):
    out = tmp_path / "o"
    result = invoke("run", world, "--out", out, *TINY, "--delta", 0.99, "--max-outlier-fraction", 0)
    line = assert_error(result, "scores were saved", f"reidprune prune {world} --scores {out / 'scores.npz'}")
    assert "outliers" in line
    assert (out / "scores.npz").exists()


# ----------------------------------------------------------------------------- speed, messages

def test_errors_load_no_torch():
    code = ("import sys; from click.testing import CliRunner; from reidprune.cli import main; "
            "r = CliRunner().invoke(main, ['prune', '.', '--scores', 'missing.npz', '--out', 'nowhere']); "
            "print(r.exit_code, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": SRC}, check=True)
    assert out.stdout.split() == ["2", "False"], out.stdout + out.stderr


def test_bad_name_message_names_no_python_option(tmp_path):
    from reidprune.data.layouts import load_dataset

    (tmp_path / "bounding_box_train").mkdir()
    (tmp_path / "bounding_box_train" / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ReidPruneError) as err:
        load_dataset(tmp_path, "market1501")
    assert "on_bad_name" not in str(err.value) and "rename or remove it" in str(err.value)


class _NotATensor:
    pass


def test_weights_that_are_not_a_state_dict(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(2000))
    pickled = tmp_path / "pickled.pt"
    torch.save({"model": _NotATensor()}, pickled)  # needs weights_only=False to read
    for path in (junk, pickled):
        with pytest.raises(ReidPruneError) as err:
            build_model("small", 4, weights=path)
        assert "weights_only" not in str(err.value) and str(path) in str(err.value)
        assert "\n" not in str(err.value)


def test_weights_of_another_architecture_name_it(tmp_path):
    path = tmp_path / "r18.pt"
    torch.save(build_model("resnet18", 4).backbone.state_dict(), path)
    with pytest.raises(ReidPruneError) as err:
        build_model("small", 4, weights=path)
    message = str(err.value)
    assert "\n" not in message and "resnet18" in message and "--backbone resnet18" in message


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenetv2"])
def test_guess_architecture_of_our_backbones(name):
    assert guess_architecture(build_model(name, 4).state_dict()) == name
    assert guess_architecture(build_model(name, 4).backbone.state_dict()) == name


def test_guess_architecture_of_torchvision_names():
    from torchvision.models import mobilenet_v2, resnet18, resnet50

    assert guess_architecture(resnet50(weights=None).state_dict()) == "resnet50"
    assert guess_architecture(resnet18(weights=None).state_dict()) == "resnet18"
    assert guess_architecture(mobilenet_v2(weights=None).state_dict()) == "mobilenetv2"
    assert "unknown" in guess_architecture({"foo.weight": torch.zeros(2)})


def test_help_shows_the_real_defaults():
    from reidprune.train.config import (
        TrainConfig, cpu_quick_config, cpu_scoring_config, cpu_train_config, paper_scoring_config,
    )

    small, cpu, paper = cpu_quick_config(), cpu_scoring_config(), paper_scoring_config()
    def values(key):
        return [part.split(": ")[1] for part in DEFAULTS[key].split("; ")]

    assert [float(v) for v in values("lr")] == [small.lr, cpu.lr, paper.lr]
    assert values("backbone") == [small.backbone, cpu.backbone, TrainConfig().backbone]
    assert values("size") == [f"{c.height}x{c.width}" for c in (small, cpu, paper)]
    assert DEFAULTS["epochs"] == (f"score/run: {paper.epochs}; train: 30 small preset, {cpu_train_config().epochs} "
                                  f"cpu, {TrainConfig().epochs} paper")
    assert small.epochs == cpu.epochs == paper.epochs
    assert DEFAULTS["batch_size"] == str(small.batch_size) and DEFAULTS["instances"] == str(small.instances)
    text = " ".join(invoke("score", "--help").output.split())
    for value in DEFAULTS.values():
        assert f"[default: ({value})" in text
    assert "_SIZE" not in text


# ----------------------------------------------------------------------------- resume

def _tiny_fit(tmp_path, **changes):
    from reidprune.train.config import cpu_quick_config
    from reidprune.train.loop import fit

    config = cpu_quick_config(height=16, width=8, epochs=2, batch_size=8, instances=2, **changes)
    torch.manual_seed(0)
    images = torch.randint(0, 255, (16, 3, 16, 8), dtype=torch.uint8)
    labels = np.arange(16) % 4
    model = build_model("small", 4)
    return fit(model, images, labels, config, checkpoint=tmp_path / "run.ckpt",
               run_key=f"key-{sorted(changes.items())}", progress=False)


def test_resuming_says_so_and_a_refused_checkpoint_names_the_setting(tmp_path, caplog):
    import logging

    from reidprune.train.checkpoint import load_checkpoint, save_checkpoint

    _tiny_fit(tmp_path)
    saved = load_checkpoint(tmp_path / "run.ckpt")
    saved["epoch"], saved["step"] = 2, 1
    save_checkpoint(tmp_path / "run.ckpt", saved)
    with caplog.at_level(logging.INFO, logger="reidprune"):
        result = _tiny_fit(tmp_path)
    assert result.resumed_from == (2, 1)
    assert "resuming from epoch 2, step 1" in caplog.text
    with pytest.raises(ReidPruneError) as err:
        _tiny_fit(tmp_path, lr=1e-3)
    assert "lr was 0.003, now 0.001" in str(err.value)


# ----------------------------------------------------------------------------- found by the fuzz test

@pytest.mark.parametrize("option", ["--fraction", "--delta", "--max-outlier-fraction", "--class-balance"])
def test_nan_passes_no_range_check(world, scored, tmp_path, option):
    result = invoke("prune", world, "--scores", scored, "--out", tmp_path / "o", option, "nan")
    assert result.exit_code == 2 and "not a finite number" in result.output and "Traceback" not in result.output


def test_negative_seed_is_a_usage_error(world, tmp_path):
    result = invoke("score", world, "--out", tmp_path, *TINY, "--seed", -3)
    assert result.exit_code == 2 and "--seed" in result.output and "Traceback" not in result.output


def test_train_without_query_is_refused_before_training(world, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(world, data)
    shutil.rmtree(data / "query")
    assert_error(invoke("train", data, "--out", tmp_path / "o", *TINY), "no query images")
    assert not (tmp_path / "o" / "checkpoint.ckpt").exists()


def test_scores_with_labels_that_are_not_integers(world, scored, tmp_path):
    with np.load(scored) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["labels"] = arrays["labels"].astype(float)
    bad = tmp_path / "scores.npz"
    with open(bad, "wb") as fh:
        np.savez(fh, **arrays)
    assert_error(invoke("prune", world, "--scores", bad, "--out", tmp_path / "o"), "labels")


@pytest.mark.parametrize("device, needle", [("cuda:3", "no CUDA GPU"), ("mps", "not supported"),
                                            ("meta", "not supported"), ("tpu", "unknown device")])
def test_a_device_this_machine_lacks_is_one_line_before_training(world, tmp_path, device, needle):
    out = tmp_path / "out"
    assert_error(invoke("score", world, "--out", out, "--preset", "small", "--device", device, "-q"), needle)
    assert not (out / "checkpoints").exists()


def test_run_refuses_a_bad_decisions_file_before_scoring(world, tmp_path):
    bad = tmp_path / "review.sqlite"
    bad.write_bytes(b"")
    out = tmp_path / "out"
    assert_error(invoke("run", world, "--out", out, "--preset", "small", "--decisions", bad, "-q"), "is empty")
    assert not (out / "checkpoints").exists() and not (out / "scores.npz").exists()
    assert bad.read_bytes() == b""


def test_a_diverging_training_stops_and_says_which_option(world, tmp_path):
    out = tmp_path / "out"
    assert_error(invoke("score", world, "--out", out, "--preset", "small", "--lr", "1000", "--epochs", "3", "-q"),
                 "lower the learning rate (--lr")
    assert not (out / "scores.npz").exists()
