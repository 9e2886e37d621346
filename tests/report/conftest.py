"""A tiny synthetic world, pruned with hand-made scores (no training): fast data for the browser tests."""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from reidprune.cli import main
from reidprune.data.layouts import load_dataset
from reidprune.scores.entropy import entropy_scores, soft_labels
from reidprune.scores.store import MethodScores, ScoreSet

PRUNE = ("--fraction", "0.25", "--delta-chance", "1.5")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def hand_scores(world: Path, seed: int = 0) -> ScoreSet:
    """Scores whose soft labels know the ground truth: flat for outliers, peaked on the true id otherwise.

    Mislabeled images get a moderate peak on their true identity (so they are kept and relabelled),
    clean images a peak of random strength (so entropies spread and the easiest get pruned).
    """
    train = load_dataset(world, "auto").split_table("train")
    truth = {row["path"]: row for row in csv.DictReader(open(world / "ground_truth.csv"))}
    rng = np.random.default_rng(seed)
    n, c = len(train), train.num_classes
    logits = rng.normal(0.0, 0.05, (n, c))
    for i, rel in enumerate(train.relative_paths().tolist()):
        row = truth[rel]
        if row["kind"] not in ("clean", "mislabeled"):
            continue  # an outlier: flat soft label, max close to 1/C
        true_label = int(np.searchsorted(train.classes, int(row["true_pid"])))
        mislabeled = row["true_pid"] != row["assigned_pid"]
        logits[i, true_label] += 3.0 if mislabeled else rng.uniform(2.0, 9.0)
    scores = ScoreSet.for_table(train, {"preset": "cpu", "options": {"train": {
        "backbone": "small", "height": 64, "width": 32, "epochs": 2, "mode": "reid", "weights": None}}})
    importance = entropy_scores(soft_labels(logits))
    scores.add(MethodScores("entropy", importance, {"score_epochs": 2, "every": 1, "unrecorded": 0},
                            {"epochs": 2, "seconds": 1.5, "runs": 1}, {"mean_logits": logits.astype(np.float32)}))
    return scores


def make_pruned(base: Path, train_ids: int = 8, images_per_id: int = 8, seed: int = 0) -> tuple[Path, Path]:
    """``(world, prune output)``: a synthetic world, its hand-made scores.npz and a prune output."""
    world, out = base / "world", base / "pruned"
    result = invoke("synth", world, "--train-ids", train_ids, "--test-ids", 2, "--images-per-id", images_per_id,
                    "--mislabel-rate", 0.15, "--outlier-rate", 0.1, "--seed", seed)
    assert result.exit_code == 0, result.output
    out.mkdir(parents=True)
    hand_scores(world, seed).save(out / "scores.npz")
    result = invoke("prune", world, "--scores", out / "scores.npz", "--out", out, *PRUNE)
    assert result.exit_code == 0, result.output
    return world, out


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    return make_pruned(tmp_path_factory.mktemp("html"))


def chromium() -> str:
    """The Chromium binary and its driver, or skip the test saying how to install them."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser or not shutil.which("chromedriver"):
        pytest.skip("chromium not installed: apt-get install chromium chromium-driver")
    return browser


def browser_driver():
    """A headless Chromium driven by Debian's chromedriver (selenium-manager never downloads anything)."""
    chromium()
    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must never download a browser or driver
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1200,900", "--disable-background-networking", "--no-first-run"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def pixel_spread(png: Path) -> float:
    """Standard deviation of a screenshot's grey levels (0 for a blank page)."""
    from PIL import Image

    with Image.open(png) as image:
        return float(np.asarray(image.convert("L"), dtype=np.float64).std())


