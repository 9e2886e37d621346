"""The paper's three list files: exact round trip and a reader that trusts nothing."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.export.seed_lists import read_seed_lists, write_seed_lists

PATHS = np.array(["bounding_box_train/0002_c1s1_000451_03.jpg", "bounding_box_train/0002_c1s1_000551_01.jpg",
                  "bounding_box_train/0007_c1s6_028546_01.jpg", "bounding_box_train/0007_c2s3_070952_01.jpg",
                  "bounding_box_train/0010_c1s1_002301_02.jpg"])
IMPORTANCE = np.array([0.3, 0.9, 0.1, 0.9, 0.5])
MISLABELED = np.array([False, True, False, False, True])
PREDICTED_IDS = np.array([2, 10, 7, 7, 2])
OUTLIERS = np.array([True, False, False, False, False])


def _write(folder):
    return write_seed_lists(folder, PATHS, IMPORTANCE, MISLABELED, PREDICTED_IDS, OUTLIERS)


def test_round_trip_exact_arrays(tmp_path):
    folder = tmp_path / "new" / "Market1501"
    written = _write(folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "Mislabeled_outlier_samples.pickle", "Ranking_list.npy", "fpath_list.npy"]
    assert written["ranking_list"] == folder / "Ranking_list.npy"
    lists = read_seed_lists(folder)
    np.testing.assert_array_equal(lists["fpath_list"], PATHS)
    # most difficult first; the tie 0.9 / 0.9 puts the higher index first
    np.testing.assert_array_equal(lists["ranking_indices"], [3, 1, 4, 0, 2])
    np.testing.assert_array_equal(lists["ranking_list"], PATHS[[3, 1, 4, 0, 2]])
    np.testing.assert_array_equal(lists["mislabeled"], [[1, 10], [4, 2]])
    np.testing.assert_array_equal(lists["outliers"], [0])
    assert lists["mislabeled"].dtype == np.int64 and lists["outliers"].dtype == np.int64
    # the files themselves hold plain arrays with the documented keys
    assert np.load(folder / "fpath_list.npy", allow_pickle=False).dtype.kind == "U"
    with open(folder / "Mislabeled_outlier_samples.pickle", "rb") as handle:
        raw = pickle.load(handle)
    assert list(raw) == ["mislabeled", "outliers"]
    assert raw["mislabeled"].shape == (2, 2) and raw["outliers"].shape == (1,)


def test_nothing_flagged_gives_empty_arrays(tmp_path):
    write_seed_lists(tmp_path, PATHS, IMPORTANCE, np.zeros(5, bool), PREDICTED_IDS, np.zeros(5, bool))
    lists = read_seed_lists(tmp_path)
    assert lists["mislabeled"].shape == (0, 2) and lists["outliers"].shape == (0,)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    _write(tmp_path)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (tmp_path / "Mislabeled_outlier_samples.pickle").write_bytes(
        pickle.dumps({"mislabeled": Evil(), "outliers": np.zeros(0, np.int64)}))
    with pytest.raises(ReidPruneError, match="Mislabeled_outlier_samples.pickle.*refusing"):
        read_seed_lists(tmp_path)
    assert not marker.exists()


def _replace_pickle(folder, table, protocol=4):
    (folder / "Mislabeled_outlier_samples.pickle").write_bytes(pickle.dumps(table, protocol=protocol))


@pytest.mark.parametrize("table, match", [
    ({"mislabeled": np.array([1, 2, 3]), "outliers": np.array([0])}, r"\(M, 2\)"),
    ({"mislabeled": np.array([[1.0, 2.0]]), "outliers": np.array([0])}, r"\(M, 2\)"),
    ({"mislabeled": np.array([[5, 2]]), "outliers": np.array([0])}, r"0\.\.4"),
    ({"mislabeled": np.array([[1, 2], [1, 3]]), "outliers": np.array([0])}, "unique"),
    ({"mislabeled": np.zeros((0, 2), int), "outliers": np.array([[0]])}, "1-D"),
    ({"mislabeled": np.zeros((0, 2), int), "outliers": np.array([-1])}, r"0\.\.4"),
    ({"mislabeled": np.zeros((0, 2), int)}, "two numpy arrays"),
    ([np.zeros((0, 2), int), np.zeros(0, int)], "two numpy arrays"),
    ({"a": [1], "b": np.zeros(0, int)}, "two numpy arrays"),
])
def test_wrong_pickle_contents_are_refused(tmp_path, table, match):
    _write(tmp_path)
    _replace_pickle(tmp_path, table)
    with pytest.raises(ReidPruneError, match=match) as info:
        read_seed_lists(tmp_path)
    assert "Mislabeled_outlier_samples.pickle" in str(info.value)


def test_other_key_names_are_read_in_order(tmp_path):
    _write(tmp_path)
    _replace_pickle(tmp_path, {"pred": np.array([[2, 7]], np.int32), "out": np.array([4, 1])}, protocol=5)
    lists = read_seed_lists(tmp_path)
    np.testing.assert_array_equal(lists["mislabeled"], [[2, 7]])
    np.testing.assert_array_equal(lists["outliers"], [4, 1])


def test_numpy_1_pickles_are_read(tmp_path):
    _write(tmp_path)
    data = pickle.dumps({"mislabeled": np.array([[0, 3]]), "outliers": np.array([2])}, protocol=2)
    old = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n" in old and b"numpy._core" not in old
    (tmp_path / "Mislabeled_outlier_samples.pickle").write_bytes(old)
    lists = read_seed_lists(tmp_path)
    np.testing.assert_array_equal(lists["mislabeled"], [[0, 3]])
    np.testing.assert_array_equal(lists["outliers"], [2])


def test_wrong_npy_files_are_refused(tmp_path):
    _write(tmp_path)
    np.save(tmp_path / "Ranking_list.npy", PATHS[[0, 1, 2, 3, 3]])
    with pytest.raises(ReidPruneError, match="Ranking_list.npy.*exactly the 5 paths"):
        read_seed_lists(tmp_path)
    np.save(tmp_path / "Ranking_list.npy", PATHS[:4])
    with pytest.raises(ReidPruneError, match="Ranking_list.npy"):
        read_seed_lists(tmp_path)
    np.save(tmp_path / "fpath_list.npy", np.array(list(PATHS), dtype=object), allow_pickle=True)
    with pytest.raises(ReidPruneError, match="fpath_list.npy.*plain .npy"):
        read_seed_lists(tmp_path)
    np.save(tmp_path / "fpath_list.npy", np.arange(5))
    with pytest.raises(ReidPruneError, match="fpath_list.npy.*str paths"):
        read_seed_lists(tmp_path)
    (tmp_path / "fpath_list.npy").unlink()
    with pytest.raises(ReidPruneError, match="fpath_list.npy: file not found"):
        read_seed_lists(tmp_path)


def test_ranking_file_without_suffix_is_read(tmp_path):
    _write(tmp_path)
    os.replace(tmp_path / "Ranking_list.npy", tmp_path / "Ranking_list")
    np.testing.assert_array_equal(read_seed_lists(tmp_path)["ranking_indices"], [3, 1, 4, 0, 2])


@pytest.mark.parametrize("change, match", [
    ({"relative_paths": np.array(["/data/a.jpg", "b.jpg"])}, "relative"),
    ({"relative_paths": np.array(["a.jpg", "a.jpg"])}, "unique"),
    ({"importance": np.zeros(3)}, "importance"),
    ({"mislabeled_mask": np.zeros(2)}, "bool"),
    ({"outlier_mask": np.zeros(3, bool)}, "bool"),
    ({"predicted_original_ids": np.zeros(2)}, "integers"),
])
def test_writer_refuses_bad_inputs(tmp_path, change, match):
    arguments = {"relative_paths": np.array(["a.jpg", "b.jpg"]), "importance": np.zeros(2),
                 "mislabeled_mask": np.zeros(2, bool), "predicted_original_ids": np.zeros(2, int),
                 "outlier_mask": np.zeros(2, bool)}
    arguments.update(change)
    with pytest.raises(ReidPruneError, match=match):
        write_seed_lists(tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_truncated_pickle_is_refused(tmp_path):
    _write(tmp_path)
    target = tmp_path / "Mislabeled_outlier_samples.pickle"
    target.write_bytes(target.read_bytes()[:20])
    with pytest.raises(ReidPruneError, match="Mislabeled_outlier_samples.pickle"):
        read_seed_lists(tmp_path)
