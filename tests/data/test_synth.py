"""Tests of the synthetic ReID world: layout, injected ground truth, determinism, learnability."""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from reidprune.data import synth
from reidprune.data.synth import (
    GT_COLUMNS, KINDS, OUTLIER_KINDS, SynthConfig, config_from_dict, generate_world, plan_world,
    read_config, read_ground_truth)
from reidprune.errors import ReidPruneError

MARKET_PATTERN = re.compile(r"([-\d]+)_c(\d)")
FULL_NAME = re.compile(r"^(\d{4})_c(\d)s(\d)_(\d{6})_00\.jpg$")
FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
SMALL = SynthConfig(num_train_ids=6, num_test_ids=3, images_per_id=10, test_images_per_id=6,
                    num_distractors=2, height=64, width=32, mislabel_rate=0.1, outlier_rate=0.1,
                    seed=3)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """The default-size world (2,000 train + 610 test crops), generated once for this module."""
    return generate_world(tmp_path_factory.mktemp("synth") / "world", SynthConfig(), progress=False)


@pytest.fixture(scope="module")
def gt(world) -> dict:
    return read_ground_truth(world)


@pytest.fixture(scope="module")
def pixels(world, gt) -> np.ndarray:
    """Every crop of the default world, decoded: N x 128 x 64 x 3 float32."""
    return np.stack([np.asarray(Image.open(world / p), dtype=np.float32) for p in gt["path"]])


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _step_in_tracklet(tracklet: np.ndarray) -> np.ndarray:
    """Position of every row inside its tracklet (rows of a tracklet are consecutive)."""
    starts = np.r_[0, np.flatnonzero(np.diff(tracklet)) + 1]
    lengths = np.diff(np.r_[starts, len(tracklet)])
    return np.arange(len(tracklet)) - np.repeat(starts, lengths)


# ---------------------------------------------------------------- sizes and layout


def test_default_world_counts(world, gt):
    split = gt["split"]
    assert (split == "train").sum() == 2000
    assert (split == "query").sum() == 100  # 50 test identities x 2 cameras
    assert (split == "gallery").sum() == 50 * 12 - 100 + 10  # rest of the test crops + distractors
    train_ids = np.unique(gt["true_pid"][split == "train"])
    np.testing.assert_array_equal(train_ids, np.arange(1, 101))
    np.testing.assert_array_equal(np.unique(gt["assigned_pid"][split == "train"]), train_ids)
    np.testing.assert_array_equal(np.unique(gt["true_pid"][split == "query"]), np.arange(101, 151))
    np.testing.assert_array_equal(np.unique(gt["true_pid"][split == "gallery"]),
                                  np.r_[0, np.arange(101, 151)])
    assert (gt["true_pid"][split == "gallery"] == 0).sum() == 10
    np.testing.assert_array_equal(np.unique(gt["camid"]), [1, 2, 3, 4])
    for name, folder in FOLDERS.items():
        assert len(list((world / folder).glob("*.jpg"))) == (split == name).sum()
    assert Image.open(world / gt["path"][0]).size == (64, 128)  # PIL reports (width, height)
    stored = json.loads((world / "synth_config.json").read_text())
    assert stored == dataclasses.asdict(SynthConfig())
    assert read_config(world) == SynthConfig()


def test_every_identity_spans_cameras_and_tracklets(gt):
    train = gt["split"] == "train"
    for pid in (1, 50, 100):
        rows = train & (gt["true_pid"] == pid)
        tracklets = np.unique(gt["tracklet"][rows])
        assert len(tracklets) == 4  # 20 images in tracklets of 5
        assert len(np.unique(gt["camid"][rows])) == 4  # one camera per tracklet
        for t in tracklets:
            assert len(np.unique(gt["camid"][gt["tracklet"] == t])) == 1
    assert len(np.unique(gt["tracklet"])) == 100 * 4 + 50 * 3 + 10  # 12 test crops -> 5 + 5 + 2


def test_every_query_has_a_cross_camera_gallery_match(gt):
    query = np.flatnonzero(gt["split"] == "query")
    gallery = gt["split"] == "gallery"
    for q in query:
        same_id = gallery & (gt["true_pid"] == gt["true_pid"][q])
        assert (same_id & (gt["camid"] != gt["camid"][q])).any()
    per_identity = np.unique(gt["true_pid"][query], return_counts=True)[1]
    assert (per_identity == 2).all()
    pairs = {(p, c) for p, c in zip(gt["true_pid"][query], gt["camid"][query])}
    assert len(pairs) == len(query)  # the two queries of an identity come from two cameras


def test_test_identities_are_disjoint_from_training(gt):
    train_rows = gt["split"] == "train"
    train = set(gt["true_pid"][train_rows]) | set(gt["assigned_pid"][train_rows])
    test = set(gt["true_pid"][gt["split"] != "train"]) - {0}
    assert train.isdisjoint(test)


def test_file_names_follow_market_layout_and_agree_with_csv(world, gt):
    on_disk = {str(p.relative_to(world)) for p in world.rglob("*.jpg")}
    assert on_disk == set(gt["path"])
    frames = set()
    for path, split, pid, cam in zip(gt["path"], gt["split"], gt["assigned_pid"], gt["camid"]):
        folder, name = path.split("/")
        assert folder == FOLDERS[split]
        match = MARKET_PATTERN.search(name)
        assert (int(match.group(1)), int(match.group(2))) == (pid, cam)
        full = FULL_NAME.match(name)
        assert full is not None, name
        frames.add((int(full.group(2)), int(full.group(3)), int(full.group(4))))
    assert len(frames) == len(gt["path"])  # (camera, sequence, frame) is unique


def test_ground_truth_csv_header_and_types(world, gt):
    with open(world / "ground_truth.csv", newline="") as handle:
        assert next(csv.reader(handle)) == list(GT_COLUMNS)
    assert set(gt) == set(GT_COLUMNS)
    for column in ("assigned_pid", "true_pid", "camid", "tracklet", "other_pid"):
        assert gt[column].dtype == np.int64
    assert all(len(gt[c]) == 2610 for c in GT_COLUMNS)


# ---------------------------------------------------------------- injected ground truth


def test_exact_noise_counts_in_default_world(gt):
    kinds = dict(zip(*np.unique(gt["kind"], return_counts=True)))
    assert kinds["mislabeled"] == 200  # round(0.10 * 2000)
    assert sum(kinds[k] for k in OUTLIER_KINDS) == 60  # round(0.03 * 2000)
    assert [kinds[k] for k in OUTLIER_KINDS] == [20, 20, 20]
    assert kinds["clean"] == 2610 - 260
    assert set(kinds) == set(KINDS)
    assert (gt["kind"][gt["split"] != "train"] == "clean").all()


def test_noise_counts_round_half_up(tmp_path):
    # 30 training images: 0.05 * 30 = 1.5 -> 2 mislabeled, 0.15 * 30 = 4.5 -> 5 outliers
    config = dataclasses.replace(SMALL, num_train_ids=3, images_per_id=10, mislabel_rate=0.05,
                                 outlier_rate=0.15)
    assert (config.num_mislabeled, config.num_outliers) == (2, 5)
    gt = read_ground_truth(generate_world(tmp_path / "w", config, progress=False))
    assert (gt["kind"] == "mislabeled").sum() == 2
    counts = sorted((gt["kind"] == k).sum() for k in OUTLIER_KINDS)
    assert counts == [1, 2, 2]  # as equal as 5 allows


def test_assigned_differs_from_true_exactly_for_mislabeled(gt):
    mislabeled = gt["kind"] == "mislabeled"
    np.testing.assert_array_equal(gt["assigned_pid"] != gt["true_pid"], mislabeled)
    assert set(gt["assigned_pid"][mislabeled]) <= set(range(1, 101))
    # whole images, not whole tracklets: the mislabels fall into many different tracklets
    assert len(np.unique(gt["tracklet"][mislabeled])) > 120  # 200 picks of 400 tracklets: ~157
    # and no identity is favoured as the wrong label: 200 draws over 99 others each
    assert np.bincount(gt["assigned_pid"][mislabeled]).max() <= 10


def test_two_people_record_a_second_training_identity(gt):
    two = gt["kind"] == "two_people"
    assert (gt["other_pid"][two] != gt["true_pid"][two]).all()
    assert set(gt["other_pid"][two]) <= set(range(1, 101))
    assert (gt["other_pid"][~two] == 0).all()


def test_outliers_differ_from_their_tracklet_neighbours(gt, pixels):
    """An outlier frame changes much of the crop; a clean frame barely changes from the next."""
    def changed_fraction(i):
        for j in (i - 1, i + 1):  # an uncorrupted frame of the same tracklet
            if (0 <= j < len(pixels) and gt["tracklet"][j] == gt["tracklet"][i]
                    and gt["kind"][j] not in OUTLIER_KINDS):
                return (np.abs(pixels[i] - pixels[j]).max(-1) > 25).mean()
        return None

    def fractions(rows):
        values = [changed_fraction(i) for i in rows]
        return np.array([v for v in values if v is not None])

    clean = fractions(np.flatnonzero((gt["split"] == "train") & (gt["kind"] == "clean"))[:400])
    assert len(clean) > 380 and np.percentile(clean, 95) < 0.1
    occlusion = fractions(np.flatnonzero(gt["kind"] == "occlusion"))
    assert len(occlusion) >= 18 and occlusion.min() > 0.4  # the occluder covers 50-70% of the crop
    for kind in ("two_people", "truncation"):
        assert np.median(fractions(np.flatnonzero(gt["kind"] == kind))) > 0.25


# ---------------------------------------------------------------- pixels


def test_tracklet_frames_are_near_duplicates(gt, pixels):
    clean = np.flatnonzero((gt["kind"] == "clean") & (gt["true_pid"] > 0))
    consecutive = [np.abs(pixels[i] - pixels[i + 1]).mean() for i in clean
                   if i + 1 < len(pixels) and gt["tracklet"][i + 1] == gt["tracklet"][i]
                   and gt["kind"][i + 1] == "clean"]
    rng = np.random.default_rng(0)
    a, b = rng.choice(clean, 800), rng.choice(clean, 800)
    other = (gt["true_pid"][a] != gt["true_pid"][b]) & (gt["camid"][a] == gt["camid"][b])
    different = [np.abs(pixels[i] - pixels[j]).mean() for i, j in zip(a[other], b[other])]
    assert len(consecutive) > 1500 and len(different) > 100
    # different people in the same camera differ ~8x more than consecutive frames
    assert np.mean(consecutive) < 0.3 * np.mean(different)
    assert np.percentile(consecutive, 95) < np.percentile(different, 5)


def test_nearest_class_mean_on_tiny_pixels_learns_identities(gt, pixels):
    """8x4 colour thumbnails of clean crops identify 100 people far above chance (1%)."""
    rows = np.flatnonzero((gt["split"] == "train") & (gt["kind"] == "clean"))
    thumbs = np.stack([np.asarray(Image.fromarray(pixels[i].astype(np.uint8)).resize(
        (4, 8), Image.BILINEAR), dtype=np.float32).ravel() for i in rows])
    labels = gt["true_pid"][rows]
    held_out = _step_in_tracklet(gt["tracklet"])[rows] == 2  # the middle frame of each tracklet
    classes = np.unique(labels)
    means = np.stack([thumbs[~held_out & (labels == c)].mean(0) for c in classes])
    distances = ((thumbs[held_out, None, :] - means[None]) ** 2).sum(-1)
    accuracy = (classes[distances.argmin(1)] == labels[held_out]).mean()
    assert held_out.sum() > 300
    assert accuracy > 0.5


@settings(max_examples=60, deadline=None)
@given(num_train_ids=st.integers(2, 12), images_per_id=st.integers(2, 12),
       test_images_per_id=st.integers(4, 14), num_cameras=st.integers(2, 9),
       tracklet_length=st.integers(1, 8), mislabel_rate=st.floats(0, 0.5),
       outlier_rate=st.floats(0, 0.45), seed=st.integers(0, 2**32))
def test_plan_invariants_hold_for_any_config(num_train_ids, images_per_id, test_images_per_id,
                                             num_cameras, tracklet_length, mislabel_rate,
                                             outlier_rate, seed):
    config = SynthConfig(num_train_ids=num_train_ids, num_test_ids=3, images_per_id=images_per_id,
                         test_images_per_id=test_images_per_id, num_distractors=2,
                         num_cameras=num_cameras, tracklet_length=tracklet_length,
                         mislabel_rate=mislabel_rate, outlier_rate=outlier_rate, seed=seed)
    plan = plan_world(config)
    train = [s for s in plan if s.split == "train"]
    assert len(train) == num_train_ids * images_per_id
    assert sum(s.kind == "mislabeled" for s in train) == config.num_mislabeled
    assert sum(s.kind in OUTLIER_KINDS for s in train) == config.num_outliers
    assert config.num_mislabeled == int(np.floor(mislabel_rate * len(train) + 0.5))
    assert all((s.assigned_pid != s.true_pid) == (s.kind == "mislabeled") for s in plan)
    assert len({s.relative_path() for s in plan}) == len(plan)
    for pid in range(1, num_train_ids + 1):  # every training identity is seen by 2+ cameras
        assert len({s.camid for s in train if s.true_pid == pid}) >= 2
    for pid in range(num_train_ids + 1, num_train_ids + 4):
        queries = [s for s in plan if s.true_pid == pid and s.split == "query"]
        gallery = [s for s in plan if s.true_pid == pid and s.split == "gallery"]
        assert 1 <= len(queries) <= 2 and len({q.camid for q in queries}) == len(queries)
        assert len(queries) + len(gallery) == test_images_per_id
        for query in queries:
            assert any(g.camid != query.camid for g in gallery)


# ---------------------------------------------------------------- determinism and writing


def test_same_seed_gives_byte_identical_worlds(tmp_path):
    first = _digest_tree(generate_world(tmp_path / "a", SMALL, progress=False))
    second = _digest_tree(generate_world(tmp_path / "b", SMALL, progress=False))
    assert len(first) == 60 + 18 + 2 + 2
    assert first == second


def test_different_seed_gives_different_worlds(tmp_path):
    first = _digest_tree(generate_world(tmp_path / "a", SMALL, progress=False))
    other = _digest_tree(generate_world(tmp_path / "b", dataclasses.replace(SMALL, seed=4),
                                        progress=False))
    shared = set(first) & set(other)
    images = [k for k in shared if k.endswith(".jpg")]
    assert all(first[k] != other[k] for k in images)
    assert first["ground_truth.csv"] != other["ground_truth.csv"]


def test_plan_matches_written_ground_truth(tmp_path):
    gt = read_ground_truth(generate_world(tmp_path / "w", SMALL, progress=False))
    plan = plan_world(SMALL)
    assert [s.relative_path() for s in plan] == list(gt["path"])
    assert [s.kind for s in plan] == list(gt["kind"])
    sizes = {Image.open(tmp_path / "w" / p).size for p in gt["path"]}
    assert sizes == {(32, 64)}  # (width, height) of SMALL


def test_numpy_scalars_are_stored_as_plain_numbers(tmp_path):
    config = dataclasses.replace(SMALL, seed=np.int64(5), mislabel_rate=np.float32(0.25))
    assert type(config.seed) is int and type(config.mislabel_rate) is float
    root = generate_world(tmp_path / "w", config, progress=False)
    assert read_config(root) == config


def test_refuses_non_empty_destination_unless_overwrite(tmp_path):
    out = tmp_path / "w"
    generate_world(out, SMALL, progress=False)
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ReidPruneError, match="--overwrite"):
        generate_world(out, SMALL, progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    generate_world(out, SMALL, progress=False, overwrite=True)  # an earlier world may be replaced
    assert not (out / "keep.txt").exists()
    assert (out / "ground_truth.csv").is_file()


def test_overwrite_refuses_a_folder_that_is_not_a_world(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ReidPruneError, match="not a synthetic world"):
        generate_world(out, SMALL, progress=False, overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"


def test_empty_existing_destination_is_used_and_file_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert generate_world(empty, SMALL, progress=False) == empty
    assert (empty / "synth_config.json").is_file()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ReidPruneError, match="not a folder"):
        generate_world(a_file, SMALL, progress=False, overwrite=True)


def test_failure_midway_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def broken(scene, shot):
        calls.append(shot)
        if len(calls) == 10:
            raise RuntimeError("renderer crashed")
        return np.zeros((SMALL.height, SMALL.width, 3), np.uint8)

    monkeypatch.setattr(synth, "render_shot", broken)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        generate_world(tmp_path / "w", SMALL, progress=False)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("field, value", [
    ("num_train_ids", 1), ("num_test_ids", 0), ("images_per_id", 1), ("test_images_per_id", 3),
    ("num_distractors", -1), ("num_cameras", 1), ("num_cameras", 10), ("tracklet_length", 0),
    ("height", 16), ("width", 8), ("seed", -1), ("jpeg_quality", 0), ("jpeg_quality", 101),
    ("mislabel_rate", 1.0), ("mislabel_rate", -0.1), ("outlier_rate", 1.5),
    ("images_per_id", True), ("num_cameras", 2.5), ("mislabel_rate", "0.1"),
])
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ReidPruneError, match=f"SynthConfig.{field}"):
        SynthConfig(**{field: value})


def test_invalid_config_combinations():
    with pytest.raises(ReidPruneError, match="mislabel_rate \\+ outlier_rate"):
        SynthConfig(mislabel_rate=0.6, outlier_rate=0.5)
    with pytest.raises(ReidPruneError, match="9999"):
        SynthConfig(num_train_ids=9000, num_test_ids=1000)
    with pytest.raises(ReidPruneError, match="unknown SynthConfig field"):
        config_from_dict({"num_ids": 3})
    with pytest.raises(ReidPruneError, match="SynthConfig"):
        generate_world("unused", {"seed": 1}, progress=False)
    assert config_from_dict({"seed": 7}) == SynthConfig(seed=7)


def _write_gt(root: Path, rows: list[list]) -> None:
    root.mkdir(exist_ok=True)
    with open(root / "ground_truth.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(GT_COLUMNS)
        writer.writerows(rows)


GOOD_ROW = ["bounding_box_train/0001_c1s1_000010_00.jpg", "train", 1, 1, 1, 0, "clean", 0]


@pytest.mark.parametrize("change, message", [
    ({2: 2, 6: "clean"}, "not mislabeled"),
    ({6: "mislabeled"}, "keep their pid"),
    ({1: "test"}, "split"),
    ({6: "blurry"}, "kind"),
    ({1: "query", 6: "occlusion"}, "outside train"),
    ({6: "two_people"}, "other_pid"),
    ({4: "c1"}, "camid='c1' is not an integer"),
])
def test_read_ground_truth_rejects_inconsistent_rows(tmp_path, change, message):
    row = list(GOOD_ROW)
    for column, value in change.items():
        row[column] = value
    _write_gt(tmp_path, [row])
    with pytest.raises(ReidPruneError, match=message):
        read_ground_truth(tmp_path)


def test_read_ground_truth_rejects_missing_file_columns_and_duplicates(tmp_path):
    with pytest.raises(ReidPruneError, match="ground_truth.csv not found"):
        read_ground_truth(tmp_path)
    _write_gt(tmp_path, [GOOD_ROW, GOOD_ROW])
    with pytest.raises(ReidPruneError, match="repeat a path"):
        read_ground_truth(tmp_path)
    _write_gt(tmp_path, [])
    with pytest.raises(ReidPruneError, match="no rows"):
        read_ground_truth(tmp_path)
    (tmp_path / "ground_truth.csv").write_text("path,split\nx.jpg,train\n")
    with pytest.raises(ReidPruneError, match="lacks column"):
        read_ground_truth(tmp_path)
    _write_gt(tmp_path, [GOOD_ROW])
    gt = read_ground_truth(tmp_path)
    assert gt["path"].tolist() == [GOOD_ROW[0]] and gt["true_pid"].tolist() == [1]
    with pytest.raises(ReidPruneError, match="synth_config.json not found"):
        read_config(tmp_path)
