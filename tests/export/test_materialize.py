"""Materialising a pruned, corrected copy of a dataset in its own layout."""
from __future__ import annotations

import csv
import errno
import filecmp
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reidprune.data.layouts import load_dataset
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError
from reidprune.export.manifest import read_manifest, write_manifest
from reidprune.export.materialize import (
    MANIFEST_NAME, README_NAME, materialize, materialize_from_manifest,
)
from reidprune.select.selection import Selection

MARKET_PIDS = [1, 2, 5, 7, 12, 30]  # training labels 0..5 in this order
QUERY = ["0040_c1s1_000900_00.jpg", "0041_c2s1_000900_00.jpg"]
GALLERY = ["-1_c1s1_000002_00.jpg", "0000_c3s1_000001_00.jpg", "0040_c2s1_000950_00.jpg",
           "0041_c1s1_000950_00.jpg"]


def _jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 8), color=(seed % 256, (7 * seed) % 256, (13 * seed) % 256)).save(path)


def _market_train_names() -> list[str]:
    # 6 identities x 3 images; image k of every identity has camera k+1 and frame 100 (k+1),
    # so 0005_c1s1_000100_01.jpg relabelled to 7 meets 0007_c1s1_000100_01.jpg.
    return [f"{pid:04d}_c{k + 1}s1_{100 * (k + 1):06d}_01.jpg" for pid in MARKET_PIDS
            for k in range(3)]


def _market(tmp_path: Path):
    """A Market-1501 folder and its table (junk image on disk, left out of the table)."""
    root = tmp_path / "market"
    train = _market_train_names()
    for i, name in enumerate(train):
        _jpeg(root / "bounding_box_train" / name, i)
    for i, name in enumerate(QUERY):
        _jpeg(root / "query" / name, 100 + i)
    for i, name in enumerate(GALLERY):
        _jpeg(root / "bounding_box_test" / name, 200 + i)
    rows = ([(f"bounding_box_train/{n}", "train") for n in train]
            + [(f"query/{n}", "query") for n in QUERY]
            + [(f"bounding_box_test/{n}", "gallery") for n in GALLERY if not n.startswith("-1")])
    names = [Path(rel).name for rel, _ in rows]
    table = make_table(root, "market1501", [str(root / rel) for rel, _ in rows],
                       [int(n.split("_")[0]) for n in names],
                       [int(re.match(r"[-\d]+_c(\d)", n).group(1)) for n in names],
                       [split for _, split in rows])
    return root, table


STATUS = ["kept", "relabelled", "pruned",  # 0001
          "outlier", "kept", "kept",  # 0002
          "relabelled", "pruned", "kept",  # 0005
          "kept", "kept", "pruned",  # 0007
          "kept", "pruned", "kept",  # 0012
          "outlier", "relabelled", "kept"]  # 0030
ASSIGNED = [i // 3 for i in range(18)]
LABELS = list(ASSIGNED)
LABELS[1] = 4  # 0001_c2s1_000200_01 -> pid 12 (its namesake 0012_c2s1_000200_01 is pruned)
LABELS[6] = 3  # 0005_c1s1_000100_01 -> pid 7, meets the kept 0007_c1s1_000100_01: _dup1
LABELS[16] = 0  # 0030_c2s1_000200_01 -> pid 1 (0001_c2s1_000200_01 was itself relabelled away)

# source training row -> name in the output bounding_box_train/
EXPECTED_TRAIN = {
    0: "0001_c1s1_000100_01.jpg", 1: "0012_c2s1_000200_01.jpg", 4: "0002_c2s1_000200_01.jpg",
    5: "0002_c3s1_000300_01.jpg", 6: "0007_c1s1_000100_01_dup1.jpg",
    8: "0005_c3s1_000300_01.jpg", 9: "0007_c1s1_000100_01.jpg", 10: "0007_c2s1_000200_01.jpg",
    12: "0012_c1s1_000100_01.jpg", 14: "0012_c3s1_000300_01.jpg",
    16: "0001_c2s1_000200_01.jpg", 17: "0030_c3s1_000300_01.jpg",
}


def _selection() -> Selection:
    return Selection(np.array(STATUS), np.array(LABELS), np.array(ASSIGNED))


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def test_market_output_names_links_and_evaluation_folders(tmp_path):
    root, table = _market(tmp_path)
    train_names = _market_train_names()
    entropy = np.linspace(0.0, 1.7, 18)
    result = materialize(table, _selection(), tmp_path / "out", entropy=entropy)
    out = tmp_path / "out"
    assert result.path == out.resolve() and os.fspath(result) == str(out.resolve())
    assert (result.layout, result.kept, result.relabelled, result.pruned, result.outlier) == (
        "market1501", 9, 3, 4, 2)
    assert result.written == 12 and result.renamed == 3
    assert result.duplicates == (("bounding_box_train/0005_c1s1_000100_01.jpg",
                                  "bounding_box_train/0007_c1s1_000100_01_dup1.jpg"),)
    assert result.eval_files == 6 and result.fallback_copies == 0 and result.missing_eval == ()

    assert sorted(os.listdir(out)) == [README_NAME, "bounding_box_test", "bounding_box_train",
                                       "query", MANIFEST_NAME]
    assert sorted(os.listdir(out / "bounding_box_train")) == sorted(EXPECTED_TRAIN.values())
    for row, name in EXPECTED_TRAIN.items():  # hard links: the very same file
        source = root / "bounding_box_train" / train_names[row]
        assert os.stat(out / "bounding_box_train" / name).st_ino == os.stat(source).st_ino
    for folder, names in (("query", QUERY), ("bounding_box_test", GALLERY)):
        assert sorted(os.listdir(out / folder)) == sorted(names)  # junk image included
        for name in names:
            assert filecmp.cmp(root / folder / name, out / folder / name, shallow=False)
            assert os.stat(root / folder / name).st_ino == os.stat(out / folder / name).st_ino
    assert sorted(os.listdir(tmp_path)) == ["market", "out"]  # no temporary folder left


def test_market_output_reread_by_the_file_name_regex(tmp_path):
    root, table = _market(tmp_path)
    materialize(table, _selection(), tmp_path / "out")
    by_inode = {os.stat(root / "bounding_box_train" / name).st_ino: row
                for row, name in enumerate(_market_train_names())}
    found = {}
    for name in os.listdir(tmp_path / "out" / "bounding_box_train"):
        pid, cam = re.match(r"([-\d]+)_c(\d)", name).groups()
        row = by_inode[os.stat(tmp_path / "out" / "bounding_box_train" / name).st_ino]
        found[row] = (int(pid), int(cam))
    expected = {row: (MARKET_PIDS[LABELS[row]], row % 3 + 1) for row in EXPECTED_TRAIN}
    assert found == expected
    # relabelled rows carry the corrected id, pruned and outlier rows are absent
    assert found[1][0] == 12 and found[6][0] == 7 and found[16][0] == 1
    assert set(found) == {i for i, s in enumerate(STATUS) if s in ("kept", "relabelled")}


def test_market_round_trip_through_the_loader(tmp_path):
    _, table = _market(tmp_path)
    materialize(table, _selection(), tmp_path / "out")
    # the junk image is in the copy's gallery as in the source, and skipped the same way
    with pytest.warns(UserWarning, match="skipped 1 junk image"):
        loaded = load_dataset(tmp_path / "out")
    assert loaded.layout == "market1501"
    train = loaded.split_table("train")
    expected = sorted((name, MARKET_PIDS[LABELS[row]]) for row, name in EXPECTED_TRAIN.items())
    assert sorted(zip((Path(p).name for p in train.path), train.pid.tolist())) == expected
    np.testing.assert_array_equal(train.classes, [1, 2, 5, 7, 12, 30])
    for split in ("query", "gallery"):
        assert sorted(Path(p).name for p in loaded.split_table(split).path) == sorted(
            Path(p).name for p in table.split_table(split).path)


def test_market_output_manifest_and_readme(tmp_path):
    _, table = _market(tmp_path)
    max_score = np.full(18, 0.25)
    materialize(table, _selection(), tmp_path / "out", max_score=max_score)
    manifest = read_manifest(tmp_path / "out" / MANIFEST_NAME)
    assert manifest.status.tolist() == STATUS
    assert manifest.corrected_id.tolist() == [MARKET_PIDS[label] for label in LABELS]
    assert manifest.original_id.tolist() == [MARKET_PIDS[i // 3] for i in range(18)]
    assert np.isnan(manifest.entropy).all() and (manifest.max_score == 0.25).all()
    assert manifest.path[1] == "bounding_box_train/0001_c2s1_000200_01.jpg"
    readme = (tmp_path / "out" / README_NAME).read_text()
    assert "training images written: 12 (9 kept, 3 relabelled)" in readme
    assert "training images removed: 6 (4 pruned as easy, 2 removed as outliers)" in readme
    assert ("bounding_box_train/0005_c1s1_000100_01.jpg -> "
            "bounding_box_train/0007_c1s1_000100_01_dup1.jpg") in readme


def test_copy_and_symlink_modes(tmp_path):
    root, table = _market(tmp_path)
    materialize(table, _selection(), tmp_path / "copied", link="copy")
    materialize(table, _selection(), tmp_path / "linked", link="symlink")
    source = root / "bounding_box_train" / "0005_c1s1_000100_01.jpg"
    copied = tmp_path / "copied" / "bounding_box_train" / "0007_c1s1_000100_01_dup1.jpg"
    linked = tmp_path / "linked" / "bounding_box_train" / "0007_c1s1_000100_01_dup1.jpg"
    assert filecmp.cmp(source, copied, shallow=False)
    assert os.stat(source).st_ino != os.stat(copied).st_ino and not copied.is_symlink()
    assert linked.is_symlink() and os.readlink(linked) == str(source)
    assert os.readlink(tmp_path / "linked" / "query" / QUERY[0]) == str(root / "query" / QUERY[0])
    assert _files(tmp_path / "copied") == _files(tmp_path / "linked")
    with pytest.raises(ReidPruneError, match="unknown link mode 'soft'"):
        materialize(table, _selection(), tmp_path / "x", link="soft")


def test_hard_links_fall_back_to_copies_across_filesystems(tmp_path, monkeypatch):
    _, table = _market(tmp_path)

    def no_link(src, dst, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    result = materialize(table, _selection(), tmp_path / "out")
    assert result.fallback_copies == 12 + 6
    assert sorted(os.listdir(tmp_path / "out" / "bounding_box_train")) == sorted(
        EXPECTED_TRAIN.values())
    assert "hardlink (18 copied instead" in (tmp_path / "out" / README_NAME).read_text()


@pytest.mark.parametrize("link, patched", [("hardlink", "link"), ("copy", "copy2")])
def test_disk_full_midway_leaves_nothing(tmp_path, monkeypatch, link, patched):
    _, table = _market(tmp_path)
    owner = os if patched == "link" else shutil
    real = getattr(owner, patched)
    calls = []

    def filling_up(src, dst, **kwargs):
        calls.append(dst)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, **kwargs)

    monkeypatch.setattr(owner, patched, filling_up)
    with pytest.raises(ReidPruneError, match="disk full") as caught:
        materialize(table, _selection(), tmp_path / "out", link=link)
    assert str((tmp_path / "out").resolve()) in str(caught.value)
    assert len(calls) == 4
    assert sorted(os.listdir(tmp_path)) == ["market"]  # no out/, no temporary sibling


def test_refuses_non_empty_output_unless_overwrite(tmp_path):
    _, table = _market(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(ReidPruneError, match="is not empty"):
        materialize(table, _selection(), out)
    assert (out / "old.txt").read_text() == "old"
    materialize(table, _selection(), out, overwrite=True)
    assert not (out / "old.txt").exists()
    assert sorted(os.listdir(out / "bounding_box_train")) == sorted(EXPECTED_TRAIN.values())
    (tmp_path / "empty").mkdir()
    assert materialize(table, _selection(), tmp_path / "empty").written == 12
    assert sorted(os.listdir(tmp_path)) == ["empty", "market", "out"]


def test_refuses_output_overlapping_the_dataset(tmp_path):
    root, table = _market(tmp_path)
    for out in (root, root / "pruned", tmp_path):
        with pytest.raises(ReidPruneError, match="overlaps the dataset"):
            materialize(table, _selection(), out, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReidPruneError, match="is not a folder"):
        materialize(table, _selection(), tmp_path / "file")


def test_refuses_a_selection_of_another_size(tmp_path):
    _, table = _market(tmp_path)
    short = Selection(np.array(["kept"] * 3), np.zeros(3, int), np.zeros(3, int))
    with pytest.raises(ReidPruneError, match="3 samples but .* has 18 training images"):
        materialize(table, short, tmp_path / "out")


def test_missing_source_image_is_named(tmp_path):
    root, table = _market(tmp_path)
    (root / "bounding_box_train" / "0002_c2s1_000200_01.jpg").unlink()
    with pytest.raises(ReidPruneError, match=r"training row 4 \(bounding_box_train/0002_c2s1"):
        materialize(table, _selection(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _msmt(tmp_path: Path):
    root = tmp_path / "msmt"
    train = [(f"{pid:04d}/{pid:04d}_{k:03d}_0{k + 1}_0303morning_00{k}5_0.jpg", pid)
             for pid in (0, 1, 2) for k in range(2)]
    test = [("0100/0100_000_03_0303noon_0001_0.jpg", 100),
            ("0100/0100_001_05_0303noon_0002_0.jpg", 100)]
    for i, (rel, _) in enumerate(train):
        _jpeg(root / "train" / rel, i)
    for i, (rel, _) in enumerate(test):
        _jpeg(root / "test" / rel, 50 + i)
    (root / "list_train.txt").write_text("".join(f"{rel} {pid}\n" for rel, pid in train))
    (root / "list_val.txt").write_text(f"{train[0][0]} 0\n")
    (root / "list_query.txt").write_text(f"{test[0][0]} 100\n")
    (root / "list_gallery.txt").write_text(f"{test[1][0]} 100\n")
    rows = ([(f"train/{rel}", pid, "train") for rel, pid in train]
            + [(f"test/{test[0][0]}", 100, "query"), (f"test/{test[1][0]}", 100, "gallery")])
    table = make_table(root, "msmt17", [str(root / r) for r, _, _ in rows], [p for _, p, _ in rows],
                       [int(Path(r).name.split("_")[2]) for r, _, _ in rows], [s for *_, s in rows])
    return root, table, train


def test_msmt17_output(tmp_path):
    root, table, train = _msmt(tmp_path)
    selection = Selection(np.array(["kept", "relabelled", "pruned", "kept", "outlier", "kept"]),
                          np.array([0, 2, 1, 1, 2, 2]), np.array([0, 0, 1, 1, 2, 2]))
    result = materialize(table, selection, tmp_path / "out")
    out = tmp_path / "out"
    assert result.layout == "msmt17" and result.written == 4 and result.renamed == 0
    assert (out / "list_train.txt").read_text() == (
        f"{train[0][0]} 0\n{train[1][0]} 2\n{train[3][0]} 1\n{train[5][0]} 2\n")
    assert _files(out / "train") == sorted(train[i][0] for i in (0, 1, 3, 5))
    relabelled = train[1][0]  # same path, same inode; its new pid is in list_train.txt
    assert os.stat(out / "train" / relabelled).st_ino == os.stat(root / "train" / relabelled).st_ino
    assert _files(out / "test") == _files(root / "test")
    for name in ("list_query.txt", "list_gallery.txt"):
        assert (out / name).read_bytes() == (root / name).read_bytes()
    assert not (out / "list_val.txt").exists()
    loaded = load_dataset(out)
    assert loaded.layout == "msmt17"
    assert sorted(zip((Path(p).name for p in loaded.split_table("train").path),
                      loaded.split_table("train").pid.tolist())) == sorted(
        (Path(train[i][0]).name, pid) for i, pid in ((0, 0), (1, 2), (3, 1), (5, 2)))
    assert len(loaded.split_table("query")) == 1 and len(loaded.split_table("gallery")) == 1


def _folders(tmp_path: Path):
    root = tmp_path / "people"
    rels = [f"{who}/{k}.jpg" for who in ("alice", "bob", "carol") for k in (1, 2)]
    for i, rel in enumerate(rels):
        _jpeg(root / rel, i)
    table = make_table(root, "folders", [str(root / r) for r in rels], [0, 0, 1, 1, 2, 2],
                       [-1] * 6, ["train"] * 6)
    return root, table


FOLDER_SELECTION = Selection(np.array(["kept", "pruned", "relabelled", "kept", "kept", "outlier"]),
                             np.array([0, 0, 2, 1, 2, 2]), np.array([0, 0, 1, 1, 2, 2]))


def test_folders_output(tmp_path):
    root, table = _folders(tmp_path)
    result = materialize(table, FOLDER_SELECTION, tmp_path / "out")
    out = tmp_path / "out"
    assert result.layout == "folders" and result.renamed == 1
    assert result.duplicates == (("bob/1.jpg", "carol/1_dup1.jpg"),)
    assert _files(out) == sorted([MANIFEST_NAME, README_NAME, "alice/1.jpg", "bob/2.jpg",
                                  "carol/1.jpg", "carol/1_dup1.jpg"])
    assert os.stat(out / "carol" / "1_dup1.jpg").st_ino == os.stat(root / "bob" / "1.jpg").st_ino
    assert os.stat(out / "carol" / "1.jpg").st_ino == os.stat(root / "carol" / "1.jpg").st_ino
    loaded = load_dataset(out, "folders")
    assert sorted(zip(loaded.relative_paths().tolist(), loaded.pid.tolist())) == [
        ("alice/1.jpg", 0), ("bob/2.jpg", 1), ("carol/1.jpg", 2), ("carol/1_dup1.jpg", 2)]


def test_folders_split_form_keeps_camera_subfolders(tmp_path):
    root = tmp_path / "split"
    rels = ["train/7/cam1/a.jpg", "train/7/cam2/b.jpg", "train/9/cam1/c.jpg",
            "query/7/cam3/q.jpg", "gallery/9/cam1/g.jpg"]
    for i, rel in enumerate(rels):
        _jpeg(root / rel, i)
    table = make_table(root, "folders", [str(root / r) for r in rels], [7, 7, 9, 7, 9], [-1] * 5,
                       ["train"] * 3 + ["query", "gallery"])
    selection = Selection(np.array(["kept", "relabelled", "kept"]), np.array([0, 1, 1]),
                          np.array([0, 0, 1]))
    result = materialize(table, selection, tmp_path / "out")
    assert _files(tmp_path / "out") == sorted(
        [MANIFEST_NAME, README_NAME, "train/7/cam1/a.jpg", "train/9/cam2/b.jpg",
         "train/9/cam1/c.jpg", "query/7/cam3/q.jpg", "gallery/9/cam1/g.jpg"])
    assert result.eval_files == 2
    loaded = load_dataset(tmp_path / "out", "folders")
    train = loaded.split_table("train")
    assert sorted(zip(train.relative_paths().tolist(), train.pid.tolist())) == [
        ("train/7/cam1/a.jpg", 7), ("train/9/cam1/c.jpg", 9), ("train/9/cam2/b.jpg", 9)]
    write_manifest(tmp_path / "m.csv", table.split_table("train"), selection)
    materialize_from_manifest(tmp_path / "m.csv", root, tmp_path / "again")
    assert _files(tmp_path / "again") == _files(tmp_path / "out")


def test_veri_output(tmp_path):
    root = tmp_path / "veri"
    train = ["0002_c002_00030600_0.jpg", "0002_c003_00030610_0.jpg", "0010_c002_00040000_1.jpg"]
    for i, name in enumerate(train):
        _jpeg(root / "image_train" / name, i)
    _jpeg(root / "image_query" / "0005_c001_00001000_0.jpg", 10)
    _jpeg(root / "image_test" / "0005_c004_00001200_0.jpg", 11)
    (root / "name_train.txt").write_text("\n".join(train) + "\n")
    (root / "gt_index.txt").write_text("1\n")
    table = make_table(root, "veri776", [str(root / "image_train" / n) for n in train],
                       [2, 2, 10], [2, 3, 2], ["train"] * 3)
    selection = Selection(np.array(["kept", "relabelled", "kept"]), np.array([0, 1, 1]),
                          np.array([0, 0, 1]))
    result = materialize(table, selection, tmp_path / "out")
    out = tmp_path / "out"
    assert result.layout == "veri776" and result.renamed == 1
    assert sorted(os.listdir(out / "image_train")) == [
        "0002_c002_00030600_0.jpg", "0010_c002_00040000_1.jpg", "0010_c003_00030610_0.jpg"]
    assert (out / "name_train.txt").read_text() == (
        "0002_c002_00030600_0.jpg\n0010_c003_00030610_0.jpg\n0010_c002_00040000_1.jpg\n")
    assert (out / "gt_index.txt").read_text() == "1\n"
    assert os.listdir(out / "image_query") == ["0005_c001_00001000_0.jpg"]
    assert os.listdir(out / "image_test") == ["0005_c004_00001200_0.jpg"]
    loaded = load_dataset(out)
    assert loaded.layout == "veri776"
    assert loaded.split_table("train").pid.tolist() == [2, 10, 10]


def test_in_memory_dataset_written_as_png_folders(tmp_path):
    root = tmp_path / "cifar"
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 4, 4, 3), dtype=np.uint8)
    paths = [str(root / f"train#{i:05d}") for i in range(3)] + [str(root / "test#00000"),
                                                                 str(root / "test#00001")]
    table = make_table(root, "cifar100", paths, [3, 3, 12, 3, 12], [-1] * 5,
                       ["train"] * 3 + ["test"] * 2, pixels=pixels)
    selection = Selection(np.array(["kept", "relabelled", "pruned"]), np.array([0, 1, 1]),
                          np.array([0, 0, 1]))
    result = materialize(table, selection, tmp_path / "out")
    out = tmp_path / "out"
    assert result.layout == "folders" and result.eval_not_written == 2
    assert _files(out) == sorted([MANIFEST_NAME, README_NAME, "train/03/train_00000.png",
                                  "train/12/train_00001.png"])
    for row, rel in ((0, "train/03/train_00000.png"), (1, "train/12/train_00001.png")):
        np.testing.assert_array_equal(np.asarray(Image.open(out / rel)), pixels[row])
    assert "2 test images not written" in (out / README_NAME).read_text()
    loaded = load_dataset(out, "folders")
    assert loaded.pid.tolist() == [3, 12]


def _market_manifest(tmp_path: Path):
    root, table = _market(tmp_path)
    path = tmp_path / "edited.csv"
    write_manifest(path, table.split_table("train"), _selection())
    return root, table, path


def _edit_manifest(path: Path, row: int, column: str, value: str) -> None:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[row + 1][rows[0].index(column)] = value
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def test_from_manifest_matches_materialize(tmp_path):
    root, table, manifest = _market_manifest(tmp_path)
    direct = materialize(table, _selection(), tmp_path / "direct")
    result = materialize_from_manifest(manifest, root, tmp_path / "from_manifest")
    assert result.layout == "market1501"  # recognised from the folder
    assert (result.kept, result.relabelled, result.pruned, result.outlier, result.duplicates) == (
        direct.kept, direct.relabelled, direct.pruned, direct.outlier, direct.duplicates)
    assert _files(tmp_path / "from_manifest") == _files(tmp_path / "direct")
    assert (tmp_path / "from_manifest" / MANIFEST_NAME).read_bytes() == manifest.read_bytes()


def test_from_edited_manifest(tmp_path):
    root, _, manifest = _market_manifest(tmp_path)
    _edit_manifest(manifest, 0, "status", "pruned")
    _edit_manifest(manifest, 8, "corrected_id", "30")
    _edit_manifest(manifest, 8, "status", "relabelled")
    materialize_from_manifest(manifest, root, tmp_path / "out")
    expected = dict(EXPECTED_TRAIN)
    del expected[0]
    expected[8] = "0030_c3s1_000300_01_dup1.jpg"  # 0030_c3s1_000300_01.jpg is kept as itself
    assert sorted(os.listdir(tmp_path / "out" / "bounding_box_train")) == sorted(expected.values())


@pytest.mark.parametrize("bad_path, problem", [
    ("../x.jpg", "contains '..'"),
    ("bounding_box_train/../../x.jpg", "contains '..'"),
    ("/etc/passwd", "is absolute"),
    ("", "is empty"),
])
def test_from_manifest_refuses_escaping_paths(tmp_path, bad_path, problem):
    root, _, manifest = _market_manifest(tmp_path)
    _edit_manifest(manifest, 2, "path", bad_path)  # line 4 of the file
    with pytest.raises(ReidPruneError) as caught:
        materialize_from_manifest(manifest, root, tmp_path / "out")
    assert f"{manifest}, line 4" in str(caught.value) and problem in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_from_manifest_refuses_symlink_leaving_the_root(tmp_path):
    root, _, manifest = _market_manifest(tmp_path)
    secret = tmp_path / "secret.jpg"
    _jpeg(secret, 99)
    os.symlink(secret, root / "bounding_box_train" / "0001_c9s1_000100_01.jpg")
    os.symlink(tmp_path, root / "escape")
    for row, rel in ((1, "bounding_box_train/0001_c9s1_000100_01.jpg"), (3, "escape/secret.jpg")):
        _edit_manifest(manifest, row, "path", rel)
        with pytest.raises(ReidPruneError) as caught:
            materialize_from_manifest(manifest, root, tmp_path / "out")
        message = str(caught.value)
        assert f"{manifest}, line {row + 2}" in message and "outside the dataset root" in message
        assert not (tmp_path / "out").exists()
        _edit_manifest(manifest, row, "path", f"bounding_box_train/{_market_train_names()[row]}")


def test_from_manifest_symlink_inside_root_is_fine(tmp_path):
    root, _, manifest = _market_manifest(tmp_path)
    (root / "bounding_box_train" / "0001_c1s1_000100_01.jpg").rename(root / "stored.jpg")
    os.symlink(root / "stored.jpg", root / "bounding_box_train" / "0001_c1s1_000100_01.jpg")
    materialize_from_manifest(manifest, root, tmp_path / "out", layout="market")
    written = tmp_path / "out" / "bounding_box_train" / "0001_c1s1_000100_01.jpg"
    assert os.stat(written).st_ino == os.stat(root / "stored.jpg").st_ino


def test_from_manifest_missing_image_and_unknown_identity(tmp_path):
    root, table, manifest = _market_manifest(tmp_path)
    _edit_manifest(manifest, 4, "path", "bounding_box_train/0002_c7s1_000100_01.jpg")
    with pytest.raises(ReidPruneError, match=r"line 6: image .*0002_c7s1_000100_01.jpg does not"):
        materialize_from_manifest(manifest, root, tmp_path / "out")
    folders_root, folders_table = _folders(tmp_path)
    write_manifest(tmp_path / "f.csv", folders_table, FOLDER_SELECTION)
    _edit_manifest(tmp_path / "f.csv", 0, "corrected_id", "5")
    with pytest.raises(ReidPruneError, match=r"f.csv, line 2: corrected id 5 has no identity"):
        materialize_from_manifest(tmp_path / "f.csv", folders_root, tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["edited.csv", "f.csv", "market", "people"]




def test_real_cuhk03_round_trip(tmp_path, cuhk03):
    """The real CUHK03 folder (Market layout): relabel, prune, hard-link, load back."""
    table = load_dataset(cuhk03)
    n = len(table.rows("train"))
    rng = np.random.default_rng(0)
    draw = rng.random(n)
    status = np.where(draw < 0.2, "pruned", np.where(draw < 0.25, "outlier", "kept")).astype("U10")
    assigned = table.split_table("train").label
    labels = assigned.copy()
    relabel = draw > 0.9
    labels[relabel] = (assigned[relabel] + 1 + rng.integers(0, table.num_classes - 1,
                                                           relabel.sum())) % table.num_classes
    status[relabel] = "relabelled"
    # hard links are fast here (symlinks and copies are slow on this filesystem); the source
    # is only read, and falls back to copies where links are impossible
    result = materialize(table, Selection(status, labels, assigned), tmp_path / "out")
    kept = np.flatnonzero((status == "kept") | (status == "relabelled"))
    assert result.written == len(kept) and result.eval_files == 938
    copy = load_dataset(tmp_path / "out")
    train = copy.split_table("train")
    if result.fallback_copies:
        by_content = {Path(p).read_bytes(): i
                      for i, p in enumerate(table.split_table("train").path.tolist())}
        rows = np.array([by_content[Path(p).read_bytes()] for p in train.path])
    else:
        row_of = {os.stat(p).st_ino: i for i, p in enumerate(table.split_table("train").path)}
        rows = np.array([row_of[os.stat(p).st_ino] for p in train.path])
    np.testing.assert_array_equal(np.sort(rows), kept)
    np.testing.assert_array_equal(train.pid, table.classes[labels[rows]])
    np.testing.assert_array_equal(train.camid, table.split_table("train").camid[rows])
    for split in ("query", "gallery"):
        np.testing.assert_array_equal(copy.split_table(split).pid, table.split_table(split).pid)
