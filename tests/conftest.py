"""Fixtures shared by the test modules.

* ``cuhk03``: the real CUHK03 folder (Market-1501 layout) shared beside the repository; its
  images are read by path, never copied into the repository.
* ``tiny_world``: the builder of a tiny in-memory world (the one the kill-and-resume job
  trains on), ``tiny_world(num_classes=8, per_class=16, size=(32, 16), seed=0)`` ->
  ``(SampleTable, uint8 images N x 3 x H x W)``.

Commands under test write their image cache to a temporary folder, never the user's.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
_CACHE = tempfile.mkdtemp(prefix="reidprune-test-cache-")


def pytest_configure(config):
    os.environ["REIDPRUNE_CACHE"] = _CACHE  # never the user's ~/.cache/reidprune


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)


def shared_data(name: str) -> Path:
    """``shared/data/<name>`` beside the checkout (also from a worktree), or $REIDPRUNE_SHARED_DATA/<name>."""
    if "REIDPRUNE_SHARED_DATA" in os.environ:
        return Path(os.environ["REIDPRUNE_SHARED_DATA"]) / name
    for folder in TESTS.parents:
        candidate = folder / "shared" / "data" / name
        if candidate.is_dir():
            return candidate
    return TESTS.parents[1] / "shared" / "data" / name


@pytest.fixture(scope="session")
def cuhk03() -> Path:
    path = shared_data("cuhk03")
    assert path.is_dir(), f"expected the shared CUHK03 data at {path} (or set REIDPRUNE_SHARED_DATA)"
    return path


@pytest.fixture(scope="session")
def tiny_world():
    # The resume job runs as a script in a subprocess, so the builder lives in that file;
    # load it by path rather than putting tests/train on sys.path.
    spec = importlib.util.spec_from_file_location("resume_job", TESTS / "train" / "resume_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tiny_world
