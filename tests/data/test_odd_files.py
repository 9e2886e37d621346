"""Odd files in a dataset folder (issue 25): one clear error or a counted skip, before any training."""
from __future__ import annotations

import os
import shutil

import pytest
from click.testing import CliRunner

from reidprune.cli import main
from reidprune.data.layouts import load_counted
from reidprune.errors import ReidPruneError


@pytest.fixture
def market(tmp_path, tiny_jpeg):
    root = tmp_path / "market"
    (root / "bounding_box_train").mkdir(parents=True)
    for pid in (1, 2):
        for k in range(2):
            shutil.copy(tiny_jpeg, root / "bounding_box_train" / f"000{pid}_c1_{k}.jpg")
    return root


@pytest.fixture
def tiny_jpeg(tmp_path):
    from PIL import Image

    path = tmp_path / "tiny.jpg"
    Image.new("RGB", (8, 16), (120, 30, 30)).save(path)
    return path


def test_a_name_that_is_not_utf8_is_named(market, tiny_jpeg):
    shutil.copy(tiny_jpeg, os.path.join(os.fsencode(market / "bounding_box_train"), b"0001_c1_\xff.jpg"))
    with pytest.raises(ReidPruneError, match=r"0001_c1_\\xff\.jpg: the file name is not valid UTF-8"):
        load_counted(market)


def test_a_line_break_in_a_name_is_refused_when_the_folder_is_read(market, tiny_jpeg):
    shutil.copy(tiny_jpeg, market / "bounding_box_train" / "0001_c1_a\nb.jpg")
    with pytest.raises(ReidPruneError, match="control character"):
        load_counted(market)


def test_entries_that_are_not_files_are_counted_not_silently_skipped(market):
    train = market / "bounding_box_train"
    (train / "0001_c1_dangling.jpg").symlink_to(market / "nowhere.jpg")
    (train / "0002_c1_folder.jpg").mkdir()
    os.mkfifo(train / "0002_c1_fifo.jpg")
    with pytest.warns(UserWarning, match="skipped 3 entries with an image name that are not readable files"):
        table, skipped = load_counted(market)
    assert skipped == {"not_a_file": 3} and len(table) == 4


def test_a_folder_without_its_training_split_is_not_read_as_identities(tmp_path, tiny_jpeg):
    root = tmp_path / "no-train"
    for folder in ("query", "bounding_box_test"):
        (root / folder).mkdir(parents=True)
        shutil.copy(tiny_jpeg, root / folder / "0001_c1_0.jpg")
    result = CliRunner().invoke(main, ["score", str(root), "--out", str(tmp_path / "out"), "--preset", "small"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "no bounding_box_train/" in result.output and not (tmp_path / "out" / "checkpoints").exists()
