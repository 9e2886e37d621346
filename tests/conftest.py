"""Test-wide settings: commands under test write their image cache to a temporary folder."""
import os
import shutil
import tempfile

_CACHE = tempfile.mkdtemp(prefix="reidprune-test-cache-")


def pytest_configure(config):
    os.environ["REIDPRUNE_CACHE"] = _CACHE  # never the user's ~/.cache/reidprune


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)
