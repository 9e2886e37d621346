"""Review decisions: the SQLite store and how each verdict changes a selection (hand-computed cases)."""
from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.select import decisions as store
from reidprune.select.selection import Selection

PATHS = np.array([f"img{i}.jpg" for i in range(6)])
CLASSES = np.array([10, 20, 30])


def _selection():
    # 0 relabelled 10->20, 1 relabelled 20->30, 2 outlier, 3 outlier, 4 pruned, 5 kept
    status = np.array(["relabelled", "relabelled", "outlier", "outlier", "pruned", "kept"])
    assigned = np.array([0, 1, 2, 0, 1, 2])
    labels = np.array([1, 2, 2, 0, 1, 2])
    outliers = np.array([False, False, True, True, False, False])
    mislabeled = np.array([True, True, False, False, False, False])
    predicted = np.array([1, 2, 2, 0, 1, 2])
    return Selection(status, labels, assigned), outliers, mislabeled, predicted


def _reviews(tmp_path, rows, fingerprint="abc"):
    path = store.open_store(tmp_path / "review.sqlite", fingerprint, "/data/x")
    for row in rows:
        store.record(path, *row)
    return store.read_reviews(path, fingerprint)


def test_each_verdict_changes_the_selection_as_documented(tmp_path):
    reviews = _reviews(tmp_path, [
        ("img0.jpg", "relabel", "accept", 10, 20),          # stays relabelled to 20 (label 1)
        ("img1.jpg", "relabel", "reject", 20, 30),          # back to its given id 20 (label 1), kept
        ("img2.jpg", "outlier", "reject", 30),              # kept with its given label 2
        ("img3.jpg", "outlier", "identity", 10, None, 30),  # kept, relabelled to 30 (label 2)
        ("img5.jpg", "outlier", "accept", 30),              # a kept image the reviewer removes
        ("img4.jpg", "relabel", "identity", 20, 10, 30),    # pruned: stays pruned
    ])
    selection, outliers, mislabeled, predicted = _selection()
    done = store.apply_reviews(selection, outliers, mislabeled, predicted, PATHS, CLASSES, reviews)
    assert done.selection.status.tolist() == ["relabelled", "kept", "kept", "relabelled", "pruned", "outlier"]
    assert done.selection.labels.tolist() == [1, 1, 2, 2, 1, 2]
    assert done.selection.assigned.tolist() == [0, 1, 2, 0, 1, 2]
    assert done.outliers.tolist() == [False, False, False, False, False, True]
    assert done.mislabeled.tolist() == [True, False, False, True, True, False]
    assert done.predicted.tolist() == [1, 1, 2, 2, 2, 2]
    assert done.counts["relabel accept"] == 1 and done.counts["outlier identity"] == 1
    assert selection.status[1] == "relabelled"  # the input is not changed


def test_store_survives_reopening_and_keeps_the_last_decision(tmp_path):
    path = store.open_store(tmp_path / "review.sqlite", "abc")
    store.record(path, "img0.jpg", "relabel", "accept", 10, 20)
    store.record(path, "img0.jpg", "relabel", "reject", 10, 20)
    store.record(path, "img1.jpg", "outlier", "accept", 20)
    store.forget(path, "img1.jpg")
    store.open_store(path, "abc")  # reopening an existing file changes nothing
    reviews = store.read_reviews(path, "abc")
    assert reviews.path.tolist() == ["img0.jpg"] and reviews.verdict.tolist() == ["reject"]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_two_writers_at_once_lose_nothing(tmp_path):
    path = store.open_store(tmp_path / "review.sqlite", "abc")

    def write(offset):
        for i in range(offset, 20, 2):
            store.record(path, f"img{i}.jpg", "outlier", "accept", 1)

    threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.read_reviews(path)) == 20


def test_decisions_of_another_dataset_are_refused(tmp_path):
    path = store.open_store(tmp_path / "review.sqlite", "abc", "/data/a")
    with pytest.raises(ReidPruneError, match="another dataset .*/data/a"):
        store.read_reviews(path, "xyz")
    with pytest.raises(ReidPruneError, match="another dataset"):
        store.open_store(path, "xyz")
    (tmp_path / "junk.sqlite").write_text("not a database at all" * 100)
    with pytest.raises(ReidPruneError, match="not a reidprune decisions file"):
        store.read_reviews(tmp_path / "junk.sqlite", "abc")
    with pytest.raises(ReidPruneError, match="does not exist"):
        store.read_reviews(tmp_path / "missing.sqlite", "abc")


@pytest.mark.parametrize("row, message", [
    (("img9.jpg", "relabel", "accept", 10, 20), "img9.jpg, which is not a training image"),
    (("img0.jpg", "relabel", "identity", 10, 20, 99), "identity 99 typed for img0.jpg is not a training identity"),
    (("img0.jpg", "relabel", "accept", 10, 77), "proposed identity 77 .* is not a training identity"),
])
def test_unknown_images_and_identities_are_clear_errors(tmp_path, row, message):
    reviews = _reviews(tmp_path, [row])
    with pytest.raises(ReidPruneError, match=message):
        store.apply_reviews(*_selection(), PATHS, CLASSES, reviews)


def test_bad_verdicts_are_refused(tmp_path):
    path = store.open_store(tmp_path / "review.sqlite", "abc")
    with pytest.raises(ReidPruneError, match="verdict must be one of"):
        store.record(path, "img0.jpg", "relabel", "maybe", 10)
    with pytest.raises(ReidPruneError, match="exactly when the verdict is 'identity'"):
        store.record(path, "img0.jpg", "relabel", "identity", 10)
