"""`path pid camid` list files: the kept set with corrected ids, and the evaluation splits, by hand."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reidprune.data.layouts import load_dataset
from reidprune.errors import ReidPruneError
from reidprune.export.id_lists import read_id_list, write_id_lists
from reidprune.select.selection import Selection

pytestmark = pytest.mark.filterwarnings("ignore:.*junk image")

TRAIN = ["0003_c1s1_000100_01.jpg", "0003_c2s1_000200_01.jpg",
         "0008_c1s1_000300_01.jpg", "0008_c3s1_000400_01.jpg",
         "0011_c2s1_000500_01.jpg", "0011_c4s1_000600_01.jpg"]
QUERY = ["0020_c1s1_000700_01.jpg"]
GALLERY = ["0020_c2s1_000800_01.jpg", "-1_c3s1_000900_01.jpg"]  # -1: Market junk, not listed


def _world(root: Path) -> Path:
    for folder, names in (("bounding_box_train", TRAIN), ("query", QUERY), ("bounding_box_test", GALLERY)):
        (root / folder).mkdir(parents=True)
        for i, name in enumerate(names):
            Image.new("RGB", (8, 16), (20 * i, 0, 0)).save(root / folder / name)
    return root


def test_kept_set_with_corrected_ids_and_evaluation_lists(tmp_path):
    table = load_dataset(_world(tmp_path / "market"), "market1501")
    train = table.split_table("train")
    assert train.relative_paths().tolist() == [f"bounding_box_train/{n}" for n in TRAIN]
    # labels 0, 1, 2 = pids 3, 8, 11. Row 1 relabelled to pid 11, row 2 pruned, row 5 an outlier.
    selection = Selection(status=np.array(["kept", "relabelled", "pruned", "kept", "kept", "outlier"]),
                          labels=np.array([0, 2, 1, 1, 2, 2]), assigned=np.array([0, 0, 1, 1, 2, 2]))
    files = write_id_lists(tmp_path / "lists", train, selection, eval_table=table)
    assert sorted(files) == ["gallery_list", "query_list", "train_list"]
    assert files["train_list"].read_text() == (
        "bounding_box_train/0003_c1s1_000100_01.jpg 3 1\n"
        "bounding_box_train/0003_c2s1_000200_01.jpg 11 2\n"  # relabelled: the corrected id
        "bounding_box_train/0008_c3s1_000400_01.jpg 8 3\n"
        "bounding_box_train/0011_c2s1_000500_01.jpg 11 2\n")
    assert files["query_list"].read_text() == "query/0020_c1s1_000700_01.jpg 20 1\n"
    assert files["gallery_list"].read_text() == "bounding_box_test/0020_c2s1_000800_01.jpg 20 2\n"
    root = tmp_path / "market"
    items = read_id_list(files["train_list"], root=root)
    assert items[1] == (str(root / "bounding_box_train/0003_c2s1_000200_01.jpg"), 11, 2)
    assert all(Path(p).is_file() for p, _, _ in items)


def test_paths_with_spaces_read_back_and_bad_lines_are_named(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("my photos/a b.jpg 4 -1\n")
    assert read_id_list(good) == [("my photos/a b.jpg", 4, -1)]
    bad = tmp_path / "bad.txt"
    bad.write_text("a.jpg 1 1\nb.jpg one 2\n")
    with pytest.raises(ReidPruneError, match=r"bad.txt, line 2: expected 'path pid camid'"):
        read_id_list(bad)


def test_selection_of_another_size_is_refused(tmp_path):
    table = load_dataset(_world(tmp_path / "market"), "market1501")
    selection = Selection(np.array(["kept"]), np.array([0]), np.array([0]))
    with pytest.raises(ReidPruneError, match="6 rows but the selection 1"):
        write_id_lists(tmp_path / "lists", table.split_table("train"), selection)
