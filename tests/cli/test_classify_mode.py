"""Classification mode (CIFAR-100 python batches): CE only, shuffled batches, top-1 evaluation."""
import json
import pickle

import numpy as np
from click.testing import CliRunner

from reidprune.cli import main
from reidprune.scores.store import ScoreSet


def write_cifar(root, per_class=6, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    colours = rng.integers(0, 256, (classes, 3))

    def batch(n_per_class):
        labels = np.repeat(np.arange(classes), n_per_class)
        images = np.clip(colours[labels][:, :, None, None] + rng.integers(-20, 20, (len(labels), 3, 32, 32)), 0, 255)
        return {b"data": images.astype(np.uint8).reshape(len(labels), 3072), b"fine_labels": labels.tolist()}

    for name, n in (("train", per_class), ("test", 2)):
        with open(root / name, "wb") as fh:
            pickle.dump(batch(n), fh)
    with open(root / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(classes)]}, fh)
    return root


def test_score_and_train_on_cifar_in_classification_mode(tmp_path):
    data = write_cifar(tmp_path / "cifar")
    common = ["--preset", "small", "--size", "32x32", "--batch-size", "8", "--epochs", "2", "-q"]
    result = CliRunner().invoke(main, ["score", str(data), "--out", str(tmp_path / "s"), "-m", "entropy",
                                       "-m", "el2n", "-m", "forgetting", *common], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scores = ScoreSet.load(tmp_path / "s" / "scores.npz")
    assert len(scores.paths) == 24 and scores.info["options"]["train"]["mode"] == "classify"
    assert scores["entropy"].extras["visits"].sum() == 2 * 24  # shuffled batches: every image once an epoch
    result = CliRunner().invoke(main, ["train", str(data), "--out", str(tmp_path / "t"), *common],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert set(metrics) >= {"top1", "train_images"} and metrics["train_images"] == 24
    assert 0.0 <= metrics["top1"] <= 1.0


def test_el2n_rides_on_a_ce_only_main_run(tmp_path):
    data = write_cifar(tmp_path / "cifar")
    result = CliRunner().invoke(main, ["score", str(data), "--out", str(tmp_path / "s"), "-m", "entropy", "-m", "el2n",
                                       "--preset", "small", "--size", "32x32", "--batch-size", "8", "--epochs", "3",
                                       "--score-epochs", "2", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scores = ScoreSet.load(tmp_path / "s" / "scores.npz")
    assert scores["el2n"].cost["shared_run"] == "main" and scores["el2n"].cost["epochs"] == 2
    assert np.all((scores["el2n"].importance >= 0) & (scores["el2n"].importance <= np.sqrt(2)))
