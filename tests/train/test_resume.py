"""Kill a CPU scoring run (SIGKILL, SIGTERM) at a random point; the resumed run must match exactly."""
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reidprune.scores.store import ScoreSet
from reidprune.select.prune import ranking_most_difficult_first

JOB = Path(__file__).with_name("resume_job.py")


def _run(workdir, out, epochs=6):
    return subprocess.run([sys.executable, str(JOB), str(workdir), str(out), str(epochs)],
                          capture_output=True, text=True, timeout=300)


def _start(workdir, out, epochs=6):
    return subprocess.Popen([sys.executable, str(JOB), str(workdir), str(out), str(epochs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(proc, ckpt: Path, timeout=120):
    began = time.time()
    while not ckpt.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - began < timeout, "no checkpoint appeared"
        time.sleep(0.05)


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
    _wait_for_checkpoint(proc, work / "main.ckpt")
    time.sleep(random.uniform(0.0, 1.5))
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
    if proc.returncode == 0:  # finished before the signal landed: nothing to resume
        pytest.skip("job finished before SIGTERM arrived")
    assert proc.returncode == 130 and "run the same command to resume" in stdout
    result = _run(work, out)
    assert result.returncode == 0, result.stderr
    _assert_identical(reference, ScoreSet.load(out))


def test_checkpoint_of_another_run_is_refused(tmp_path):
    work = tmp_path / "work"
    assert _run(work, tmp_path / "a.npz", epochs=3).returncode == 0
    result = _run(work, tmp_path / "b.npz", epochs=4)  # same workdir, other settings
    assert result.returncode != 0 and "belongs to a different run" in result.stderr
