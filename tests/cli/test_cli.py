"""The command line end to end on a tiny synthetic world, and its errors."""
import json

import pytest
from click.testing import CliRunner

from reidprune.cli import main
from reidprune.export.manifest import read_manifest
from reidprune.export.seed_lists import read_seed_lists
from reidprune.scores.store import ScoreSet

TRAIN = ["--preset", "small", "--size", "32x16", "--batch-size", "8", "--instances", "4", "-q"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "world"
    result = invoke("synth", out, "--train-ids", 6, "--test-ids", 3, "--images-per-id", 8, "--outlier-rate", 0.05)
    assert result.exit_code == 0, result.output
    assert "wrote 48 training images of 6 identities" in result.output
    return out


@pytest.fixture(scope="module")
def scored(world, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    result = invoke("score", world, "--out", out, "--epochs", 3, "-m", "entropy", "-m", "random", *TRAIN)
    assert result.exit_code == 0, result.output
    return out


def test_score_writes_scores_with_costs(scored):
    scores = ScoreSet.load(scored / "scores.npz")
    assert set(scores.methods) == {"entropy", "random"}
    assert len(scores.paths) == 48 and scores["entropy"].cost["epochs"] == 3
    params = scores["entropy"].params
    assert {k: params[k] for k in ("score_epochs", "every", "unrecorded")} == {"score_epochs": 3, "every": 1,
                                                                               "unrecorded": 0}
    # from scratch the stop is the paper's fixed T; diagnostics are recorded for every epoch
    assert params["stop"] == "fixed" and params["stopped_at"] == 3 and params["epochs_saved"] == 0
    assert [d["epoch"] for d in params["diagnostics"]] == [1, 2, 3]
    assert scores.info["weights"]["source"] == "none"
    assert not (scored / "checkpoints").exists()  # removed once the scores are safe


def test_prune_writes_lists_manifest_and_a_materialised_copy(world, scored, tmp_path):
    out = tmp_path / "pruned"
    result = invoke("prune", world, "--scores", scored / "scores.npz", "--out", out, "--fraction", 0.25,
                    "--delta", 0.0, "--materialize", out / "dataset")
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out / "manifest.csv")
    removed = int((~manifest.keep_mask).sum())
    assert removed == 12  # 25% of 48, no outliers at delta 0
    lists = read_seed_lists(out / "lists")
    assert len(lists["fpath_list"]) == 48
    kept = [line.rsplit(" ", 2) for line in (out / "lists" / "train.txt").read_text().splitlines()]
    assert [(p, int(i)) for p, i, _ in kept] == [
        (p, int(i)) for p, i, k in zip(manifest.path, manifest.corrected_id, manifest.keep_mask) if k]
    assert (out / "lists" / "query.txt").exists() and (out / "lists" / "gallery.txt").exists()
    kept_files = sorted((out / "dataset" / "bounding_box_train").iterdir())
    assert len(kept_files) == 36
    summary = json.loads((out / "selection.json").read_text())
    assert summary["counts"]["pruned"] == 12


def test_prune_refuses_scores_of_another_dataset(scored, tmp_path):
    other = tmp_path / "other"
    assert invoke("synth", other, "--train-ids", 6, "--test-ids", 3, "--images-per-id", 8,
                  "--seed", 1).exit_code == 0
    result = CliRunner().invoke(main, ["prune", str(other), "--scores", str(scored / "scores.npz"),
                                       "--out", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "computed on a different dataset" in result.output


def test_train_on_a_manifest_then_evaluate(world, scored, tmp_path):
    pruned = tmp_path / "pruned"
    assert invoke("prune", world, "--scores", scored / "scores.npz", "--out", pruned, "--fraction", 0.25,
                  "--no-purify").exit_code == 0
    run = tmp_path / "run"
    result = invoke("train", world, "--out", run, "--manifest", pruned / "manifest.csv", "--epochs", 2, *TRAIN)
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_images"] == 36
    assert 0 <= metrics["mAP"] <= 100 and 0 <= metrics["rank1"] <= 100
    result = invoke("evaluate", world, "--model", run / "model.pt", "-q")
    assert result.exit_code == 0 and "mAP=" in result.output


@pytest.mark.parametrize("args, message", [
    (["score", "{empty}", "--out", "{tmp}/o"], "no training images"),
    (["score", "{world}", "--out", "{tmp}/o", "--layout", "pascal"], "unknown layout"),
    (["prune", "{world}", "--scores", "{tmp}/missing.npz", "--out", "{tmp}/o"], "does not exist"),
    (["evaluate", "{world}", "--model", "{bad_model}"], "checkpoint"),
])
def test_errors_are_one_clear_line(world, tmp_path, args, message):
    (tmp_path / "empty" / "bounding_box_train").mkdir(parents=True)
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    values = {"empty": tmp_path / "empty", "tmp": tmp_path, "world": world, "bad_model": tmp_path / "bad.pt"}
    result = CliRunner().invoke(main, [a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output.lower() and result.output.startswith("error: ")


def test_every_command_has_help():
    for command in ("synth", "score", "prune", "run", "train", "evaluate", "report", "demo"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_report_draws_what_was_flagged(world, scored, tmp_path):
    out = tmp_path / "pruned"
    assert invoke("prune", world, "--scores", scored / "scores.npz", "--out", out, "--fraction", 0.25).exit_code == 0
    result = invoke("report", out, "--data", world, "--per-group", 4)
    assert result.exit_code == 0, result.output
    from PIL import Image

    for name in ("flagged.png", "identities.png", "scores.png"):
        with Image.open(out / name) as image:
            assert image.size[0] > 100 and image.size[1] > 100
    assert (out / "flagged.png").stat().st_mode & 0o044  # readable by others (umask applied)


def test_implausibly_many_outliers_stop_unless_accepted(world, scored, tmp_path):
    args = ["prune", str(world), "--scores", str(scored / "scores.npz"), "--fraction", "0.25", "--delta", "0.999"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "would be removed as outliers" in result.output
    assert not (tmp_path / "a" / "manifest.csv").exists()
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "b"), "--max-outlier-fraction", "1"])
    assert result.exit_code == 0 and "outliers alone exceed" in result.output


def test_prune_takes_delta_from_the_scoring_preset_unless_given(world, scored, tmp_path):
    import json

    scores = ScoreSet.load(scored / "scores.npz")
    assert scores.info["preset"] == "small" and scores.info["delta"] == 0.10  # the paper's, from scratch
    scores.info["delta"] = 0.03  # what the cpu preset records
    scores.save(tmp_path / "scores.npz")
    for extra, expected in (((), 0.03), (("--delta", "0.2"), 0.2)):
        out = tmp_path / f"p{expected}"
        result = invoke("prune", world, "--scores", tmp_path / "scores.npz", "--out", out,
                        "--max-outlier-fraction", 1, *extra)
        assert result.exit_code == 0, result.output
        assert json.loads((out / "selection.json").read_text())["outlier_threshold"] == expected


def test_train_with_dynamic_pruning_saves_iterations(world, tmp_path):
    runs = {}
    for ratio in (0.0, 0.8):
        out = tmp_path / f"dyn{ratio}"
        result = invoke("train", world, "--out", out, "--epochs", 4, "--dynamic-prune", ratio, *TRAIN)
        assert result.exit_code == 0, result.output
        runs[ratio] = json.loads((out / "metrics.json").read_text())
    assert runs[0.0]["iterations"] == 4 * 6 and runs[0.0]["dynamic"] == 0.0
    assert runs[0.8]["iterations"] < runs[0.0]["iterations"] and runs[0.8]["dynamic"] == 0.8
    assert (runs[0.0]["dynamic_easy"], runs[0.8]["dynamic_easy"]) == (None, "mean")
    out = tmp_path / "median"
    result = invoke("train", world, "--out", out, "--epochs", 4, "--dynamic-prune", 0.8, "--dynamic-easy", "median",
                    *TRAIN)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["dynamic_easy"] == "median"
    assert invoke("train", world, "--out", tmp_path / "bad", "--dynamic-prune", 1.0, *TRAIN).exit_code == 2
