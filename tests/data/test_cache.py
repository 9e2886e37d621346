"""The on-disk image cache: same pixels as a direct decode, reused, invalidated, never half-written."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from reidprune.data import cache as cache_mod
from reidprune.data.cache import cached_images, image_rows
from reidprune.data.images import load_images
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError


def _table(root, count=5):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = root / f"{i:04d}_c1_{i}.png"
        Image.fromarray(rng.integers(0, 256, (12, 6, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return make_table(root, "market1501", paths, np.arange(count) % 2 + 1, np.ones(count), ["train"] * count)


def test_cache_holds_the_decoded_pixels_and_is_reused(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    table = _table(tmp_path / "data")
    expected, _ = load_images(table, (8, 4), progress=False)
    images, ok = cached_images(table, (8, 4), progress=False, directory=tmp_path / "cache")
    assert torch.equal(images, expected) and ok.all()
    assert len(list((tmp_path / "cache").glob("images-*.npy"))) == 2  # pixels + ok

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(cache_mod, "decode_into", no_decode)
    again, _ = cached_images(table, (8, 4), progress=False, directory=tmp_path / "cache")
    assert torch.equal(again, expected)
    with pytest.raises(AssertionError, match="decoded again"):  # another size is another cache
        cached_images(table, (6, 3), progress=False, directory=tmp_path / "cache")


def test_a_rewritten_file_gets_a_new_cache(tmp_path):
    (tmp_path / "data").mkdir()
    table = _table(tmp_path / "data")
    key = cache_mod.cache_key(table, (8, 4))
    os.utime(table.path[0], ns=(1, 1))
    assert cache_mod.cache_key(table, (8, 4)) != key


def test_a_failed_decode_leaves_no_cache_and_skip_mode_remembers_bad_rows(tmp_path):
    (tmp_path / "data").mkdir()
    table = _table(tmp_path / "data")
    with open(table.path[2], "wb") as handle:
        handle.write(b"not an image")
    with pytest.raises(ReidPruneError, match="0002_c1_2.png"):
        cached_images(table, (8, 4), progress=False, directory=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.npy")) and not list((tmp_path / "cache").glob(".*"))
    with pytest.warns(Warning):
        images, ok = cached_images(table, (8, 4), on_error="skip", progress=False, directory=tmp_path / "cache")
    assert ok.tolist() == [True, True, False, True, True] and images[2].eq(0).all()
    with pytest.raises(ReidPruneError, match="0002_c1_2.png"):  # the cache remembers the bad row
        cached_images(table, (8, 4), progress=False, directory=tmp_path / "cache")


def test_image_rows_select_lazily_and_compose():
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 3, 2, 2)
    rows = image_rows(image_rows(images, [9, 7, 5, 3, 1]), [4, 0])
    assert len(rows) == 2 and rows[np.array([0, 1])][:, 0, 0, 0].tolist() == [1, 9]
    assert rows[:][:, 0, 0, 0].tolist() == [1, 9]


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REIDPRUNE_CACHE", str(tmp_path))
    assert cache_mod.cache_dir() == tmp_path
