"""Kill a CPU scoring run (SIGKILL, SIGTERM) at a random point; the resumed run must match exactly.

The point is drawn from a seeded generator so that a failure reproduces; set
RESUME_TEST_SEED to try other points.
"""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from reidprune.models.reid import build_model
from reidprune.scores.store import ScoreSet
from reidprune.select.prune import ranking_most_difficult_first
from reidprune.train.config import cpu_quick_config
from reidprune.train.loop import fit

JOB = Path(__file__).with_name("resume_job.py")
SEED = int(os.environ.get("RESUME_TEST_SEED", "0"))


def _run(workdir, out, epochs=8):
    return subprocess.run([sys.executable, str(JOB), str(workdir), str(out), str(epochs)],
                          capture_output=True, text=True, timeout=300)


def _start(workdir, out, epochs=8):
    return subprocess.Popen([sys.executable, str(JOB), str(workdir), str(out), str(epochs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(proc, ckpt: Path, writes=1, timeout=120):
    """Wait until the checkpoint has been written ``writes`` times (one per epoch)."""
    began, seen, last = time.time(), 0, None
    while seen < writes:
        assert proc.poll() is None, proc.communicate()
        assert time.time() - began < timeout, "no checkpoint appeared"
        stamp = ckpt.stat().st_mtime_ns if ckpt.exists() else None
        if stamp is not None and stamp != last:
            seen, last = seen + 1, stamp
        time.sleep(0.005)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    result = _run(tmp / "work", tmp / "scores.npz")
    assert result.returncode == 0, result.stderr
    return ScoreSet.load(tmp / "scores.npz")


def _assert_identical(a: ScoreSet, b: ScoreSet):
    for name in ("entropy", "forgetting", "aum", "ma_loss"):
        assert np.array_equal(a[name].importance, b[name].importance), name
    assert np.array_equal(a["entropy"].extras["mean_logits"], b["entropy"].extras["mean_logits"])
    assert np.array_equal(a["entropy"].extras["visits"], b["entropy"].extras["visits"])
    assert np.array_equal(ranking_most_difficult_first(a["entropy"].importance),
                          ranking_most_difficult_first(b["entropy"].importance))


def test_sigkill_at_a_random_point_then_resume_is_identical(tmp_path, reference):
    work, out = tmp_path / "work", tmp_path / "scores.npz"
    proc = _start(work, out)
    # a random point: after 1-3 epochs, somewhere inside the next one (a job epoch takes ~0.4 s)
    rng = random.Random(SEED)
    _wait_for_checkpoint(proc, work / "main.ckpt", writes=rng.randint(1, 3))
    time.sleep(rng.uniform(0.0, 0.3))
    assert proc.poll() is None, "the job ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    result = _run(work, out)
    assert result.returncode == 0, result.stderr
    _assert_identical(reference, ScoreSet.load(out))


def test_sigterm_saves_a_checkpoint_and_the_same_command_resumes(tmp_path, reference):
    work, out = tmp_path / "work", tmp_path / "scores.npz"
    proc = _start(work, out)
    _wait_for_checkpoint(proc, work / "main.ckpt")
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "run the same command to resume" in stdout
    result = _run(work, out)
    assert result.returncode == 0, result.stderr
    _assert_identical(reference, ScoreSet.load(out))


def test_checkpoint_of_another_run_is_refused(tmp_path):
    work = tmp_path / "work"
    assert _run(work, tmp_path / "a.npz", epochs=3).returncode == 0
    result = _run(work, tmp_path / "b.npz", epochs=4)  # same workdir, other settings
    assert result.returncode != 0 and "belongs to a different run" in result.stderr


def test_a_resumed_fit_counts_the_iterations_and_time_before_the_resume(tmp_path):
    images = torch.randint(0, 256, (128, 3, 32, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    labels = np.repeat(np.arange(8), 16)
    config = cpu_quick_config(batch_size=16, height=32, width=16)
    ckpt = tmp_path / "fit.ckpt"
    first = fit(build_model("small", 8), images, labels, config.replace(epochs=2), checkpoint=ckpt, run_key="k",
                progress=False)
    resumed = fit(build_model("small", 8), images, labels, config.replace(epochs=3), checkpoint=ckpt, run_key="k",
                  progress=False)
    steps = len(labels) // 16  # 8 batches an epoch
    assert (first.iterations, resumed.resumed_from, resumed.iterations) == (2 * steps, (3, 0), 3 * steps)
    assert resumed.seconds > first.seconds > 0
    assert torch.load(ckpt, weights_only=True)["iterations"] == 3 * steps
