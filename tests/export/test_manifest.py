"""The CSV manifest: exact text, exact round trip, validation of hand-edited files."""
from __future__ import annotations

import math

import numpy as np
import pytest

from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError
from reidprune.export.manifest import (
    HEADER, check_manifest_matches, read_manifest, write_manifest,
)
from reidprune.select.selection import Selection

NAMES = ["bounding_box_train/0001_c1s1_000100_01.jpg", "bounding_box_train/0001_c2s1_000200_01.jpg",
         "bounding_box_train/0007_c1s1_000100_01.jpg", 'bounding_box_train/weird, "name".jpg']
PIDS = [1, 1, 7, 7]
CAMS = [1, 2, 1, 3]

EXPECTED_TEXT = (
    "index,path,original_id,camera,assigned_label,corrected_id,entropy,max_score,status\n"
    "0,bounding_box_train/0001_c1s1_000100_01.jpg,1,1,0,1,0.5,0.75,kept\n"
    "1,bounding_box_train/0001_c2s1_000200_01.jpg,1,2,0,7,0.3333333333333333,0.1,relabelled\n"
    "2,bounding_box_train/0007_c1s1_000100_01.jpg,7,1,1,7,1e-300,0.0,outlier\n"
    '3,"bounding_box_train/weird, ""name"".jpg",7,3,1,7,2.5,1.0,pruned\n'
)


def _table(root, names=NAMES, pids=PIDS, cams=CAMS, splits=None):
    splits = splits or ["train"] * len(names)
    return make_table(root, "market1501", [str(root / n) for n in names], pids, cams, splits)


def _selection():
    return Selection(status=np.array(["kept", "relabelled", "outlier", "pruned"]),
                     labels=np.array([0, 1, 1, 1]), assigned=np.array([0, 0, 1, 1]))


ENTROPY = np.array([0.5, 1 / 3, 1e-300, 2.5])
MAX_SCORE = np.array([0.75, 0.1, 0.0, 1.0])


def test_write_manifest_exact_text(tmp_path):
    root = (tmp_path / "ds").resolve()
    out = write_manifest(tmp_path / "m.csv", _table(root), _selection(), ENTROPY, MAX_SCORE)
    assert out == tmp_path / "m.csv"
    assert (tmp_path / "m.csv").read_text(encoding="utf-8") == EXPECTED_TEXT
    # written atomically: no temporary sibling left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


def test_round_trip_exact_values(tmp_path):
    root = (tmp_path / "ds").resolve()
    entropy = np.array([0.1 + 0.2, np.nextafter(1.0, 2.0), 5e-324, 123456.789e10])
    write_manifest(tmp_path / "m.csv", _table(root), _selection(), entropy, MAX_SCORE)
    manifest = read_manifest(tmp_path / "m.csv")
    assert len(manifest) == 4
    np.testing.assert_array_equal(manifest.index, [0, 1, 2, 3])
    assert manifest.path.tolist() == NAMES
    np.testing.assert_array_equal(manifest.original_id, PIDS)
    np.testing.assert_array_equal(manifest.camera, CAMS)
    np.testing.assert_array_equal(manifest.assigned_label, [0, 0, 1, 1])
    np.testing.assert_array_equal(manifest.corrected_id, [1, 7, 7, 7])
    assert manifest.entropy.tobytes() == entropy.tobytes()  # bit-exact floats
    assert manifest.max_score.tobytes() == MAX_SCORE.tobytes()
    assert manifest.status.tolist() == ["kept", "relabelled", "outlier", "pruned"]
    np.testing.assert_array_equal(manifest.keep_mask, [True, True, False, False])
    np.testing.assert_array_equal(manifest.line, [2, 3, 4, 5])
    assert manifest.original_id.dtype == np.int64 and manifest.entropy.dtype == np.float64


def test_absent_scores_are_nan_and_read_back(tmp_path):
    root = (tmp_path / "ds").resolve()
    write_manifest(tmp_path / "m.csv", _table(root), _selection())
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[1] == "0,bounding_box_train/0001_c1s1_000100_01.jpg,1,1,0,1,nan,nan,kept"
    manifest = read_manifest(tmp_path / "m.csv")
    assert np.isnan(manifest.entropy).all() and np.isnan(manifest.max_score).all()


def test_bom_and_blank_lines_accepted(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xef\xbb\xbf" + EXPECTED_TEXT.replace("\n", "\r\n").encode() + b"\r\n\r\n")
    manifest = read_manifest(path)
    assert manifest.path.tolist() == NAMES
    assert manifest.status.tolist() == ["kept", "relabelled", "outlier", "pruned"]


def test_write_manifest_refuses_misaligned_inputs(tmp_path):
    root = (tmp_path / "ds").resolve()
    with pytest.raises(ReidPruneError, match="training split"):
        write_manifest(tmp_path / "m.csv", _table(root, NAMES[:3], PIDS[:3], CAMS[:3]),
                       _selection())
    mixed = _table(root, splits=["train", "train", "train", "query"])
    with pytest.raises(ReidPruneError, match="non-training rows"):
        write_manifest(tmp_path / "m.csv", mixed, _selection())
    with pytest.raises(ReidPruneError, match=r"entropy must have one value per training sample"):
        write_manifest(tmp_path / "m.csv", _table(root), _selection(), entropy=np.zeros(3))
    bad = Selection(status=np.array(["kept"] * 4), labels=np.array([0, 1, 2, 1]),
                    assigned=np.array([0, 0, 1, 1]))
    with pytest.raises(ReidPruneError, match=r"selection.labels must lie in 0..1"):
        write_manifest(tmp_path / "m.csv", _table(root), bad)
    assert not (tmp_path / "m.csv").exists()


def _edit(text: str, line: int, column: str, value: str) -> str:
    """Replace one field of a line of EXPECTED_TEXT (lines 2..4 have no quoted fields)."""
    lines = text.split("\n")
    fields = lines[line - 1].split(",")
    fields[HEADER.index(column)] = value
    lines[line - 1] = ",".join(fields)
    return "\n".join(lines)


@pytest.mark.parametrize("line, column, value, problem", [
    (3, "camera", "x1", "'x1' is not an integer"),
    (2, "original_id", "1.0", "'1.0' is not an integer"),
    (4, "corrected_id", "1_000", "'1_000' is not an integer"),
    (2, "assigned_label", "99999999999999999999", "out of the 64-bit integer range"),
    (2, "assigned_label", "-1", "cannot be negative"),
    (3, "entropy", "inf", "'inf' is not a number"),
    (3, "entropy", "1e999", "is not finite"),
    (4, "max_score", "", "'' is not a number"),
    (2, "status", "Kept", "'Kept' is not one of kept, relabelled, pruned, outlier"),
    (3, "index", "2", "is 2, expected 1"),
    (2, "path", "", "is empty"),
    (4, "path", "bounding_box_train/0001_c1s1_000100_01.jpg", "already appears on line 2"),
])
def test_read_manifest_names_file_line_and_column(tmp_path, line, column, value, problem):
    path = tmp_path / "edited.csv"
    path.write_text(_edit(EXPECTED_TEXT, line, column, value), encoding="utf-8")
    with pytest.raises(ReidPruneError) as caught:
        read_manifest(path)
    message = str(caught.value)
    assert f"{path}, line {line}, column {column!r}" in message
    assert problem in message


def test_nan_is_accepted_in_any_case(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(_edit(EXPECTED_TEXT, 2, "max_score", "NaN"), encoding="utf-8")
    manifest = read_manifest(path)
    assert math.isnan(manifest.max_score[0]) and manifest.max_score[1] == 0.1


@pytest.mark.parametrize("text, problem", [
    ("", "is empty; expected the header"),
    ("\n\n", "is empty; expected the header"),
    ("index,path,original_id\n", "line 1: header is 'index,path,original_id'"),
    (EXPECTED_TEXT.replace("status\n", "Status\n", 1), "line 1: header is"),
    (EXPECTED_TEXT + "4,a.jpg,1,1,0,1\n", "line 6: 6 columns, expected 9"),
    (EXPECTED_TEXT + '4,"a.jpg,1,1,0,1,0.5,0.5,kept\n',
     "line 6: not valid CSV (unexpected end of data)"),
    (EXPECTED_TEXT + "4,a\x00b.jpg,1,1,0,1,0.5,0.5,kept\n", "contains a NUL character"),
])
def test_read_manifest_structure_errors(tmp_path, text, problem):
    path = tmp_path / "m.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReidPruneError) as caught:
        read_manifest(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_read_manifest_file_problems(tmp_path):
    with pytest.raises(ReidPruneError, match="does not exist"):
        read_manifest(tmp_path / "missing.csv")
    with pytest.raises(ReidPruneError, match="is a folder"):
        read_manifest(tmp_path)
    (tmp_path / "latin1.csv").write_bytes(EXPECTED_TEXT.encode() + "4,é.jpg".encode("latin-1"))
    with pytest.raises(ReidPruneError, match=r"latin1.csv is not UTF-8 text"):
        read_manifest(tmp_path / "latin1.csv")


def test_check_manifest_matches_accepts_same_rows(tmp_path):
    root = (tmp_path / "ds").resolve()
    write_manifest(tmp_path / "m.csv", _table(root), _selection(), ENTROPY, MAX_SCORE)
    manifest = read_manifest(tmp_path / "m.csv")
    assert check_manifest_matches(manifest, _table(root)) is None  # same rows: accepted without a word
    # the whole dataset works too: only the training rows are compared
    full = _table(root, NAMES + ["query/0009_c1s1_000001_00.jpg"], PIDS + [9], CAMS + [1],
                  ["train"] * 4 + ["query"])
    assert check_manifest_matches(manifest, full) is None
    # and a changed training row is not
    other = _table(root, NAMES, [PIDS[0] + 100] + PIDS[1:], CAMS, ["train"] * 4)
    with pytest.raises(ReidPruneError):
        check_manifest_matches(manifest, other)


def test_check_manifest_matches_lists_differences(tmp_path):
    root = (tmp_path / "ds").resolve()
    write_manifest(tmp_path / "m.csv", _table(root), _selection(), ENTROPY, MAX_SCORE)
    manifest = read_manifest(tmp_path / "m.csv")
    # folder now: row 1 gone, a new image, row 2's identity changed
    names = [NAMES[0], NAMES[2], NAMES[3], "bounding_box_train/0009_c1s1_000001_01.jpg"]
    changed = _table(root, names, [1, 8, 7, 9], [1, 1, 3, 1])
    with pytest.raises(ReidPruneError) as caught:
        check_manifest_matches(manifest, changed)
    message = str(caught.value)
    assert str(tmp_path / "m.csv") in message
    assert ("1 in the manifest but missing from the folder "
            "(bounding_box_train/0001_c2s1_000200_01.jpg)") in message
    assert ("1 in the folder but not in the manifest "
            "(bounding_box_train/0009_c1s1_000001_01.jpg)") in message
    assert "1 with a different identity (bounding_box_train/0007_c1s1_000100_01.jpg)" in message


def test_check_manifest_matches_shows_only_the_first_few(tmp_path):
    root = (tmp_path / "ds").resolve()
    names = [f"bounding_box_train/{i:04d}_c1s1_000001_01.jpg" for i in range(8)]
    table = _table(root, names, list(range(8)), [1] * 8)
    selection = Selection(np.array(["kept"] * 8), np.arange(8), np.arange(8))
    write_manifest(tmp_path / "m.csv", table, selection)
    manifest = read_manifest(tmp_path / "m.csv")
    other = _table(root, ["bounding_box_train/0100_c1s1_000001_01.jpg"], [100], [1])
    with pytest.raises(ReidPruneError) as caught:
        check_manifest_matches(manifest, other)
    message = str(caught.value)
    assert "8 in the manifest but missing from the folder" in message
    assert "0004_c1s1_000001_01.jpg, ..." in message
    assert "0005_c1s1" not in message


def test_check_manifest_matches_detects_reordering(tmp_path):
    root = (tmp_path / "ds").resolve()
    write_manifest(tmp_path / "m.csv", _table(root), _selection())
    manifest = read_manifest(tmp_path / "m.csv")
    order = [1, 0, 2, 3]
    reordered = _table(root, [NAMES[i] for i in order], [PIDS[i] for i in order],
                       [CAMS[i] for i in order])
    with pytest.raises(ReidPruneError, match="in another order"):
        check_manifest_matches(manifest, reordered)


def test_write_manifest_refuses_line_breaks_in_paths(tmp_path):
    root = (tmp_path / "ds").resolve()
    names = NAMES[:3] + ["bounding_box_train/bad\rname.jpg"]
    with pytest.raises(ReidPruneError, match="contains a line break"):
        write_manifest(tmp_path / "m.csv", _table(root, names), _selection())
    assert not (tmp_path / "m.csv").exists()
