"""Report figures: which samples are shown (exactly), PNG pixel sizes, input validation."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError
from reidprune.export.manifest import Manifest, read_manifest, write_manifest
from reidprune.report.curves import check_results, pruning_curve
from reidprune.report.gallery import (
    GROUPS,
    assigned_ids,
    choose_groups,
    choose_identities,
    entropy_histogram,
    flagged_gallery,
    gallery_size,
    histogram_counts,
    identity_strips,
    strips_size,
)
from reidprune.select.selection import Selection

NAN = float("nan")


def _manifest(status, entropy, max_score, original_id=None, assigned_label=None,
              corrected_id=None) -> Manifest:
    """A hand-made in-memory manifest (paths img0.jpg, img1.jpg, ...)."""
    n = len(status)
    original_id = np.zeros(n, dtype=np.int64) if original_id is None else np.asarray(original_id)
    assigned = np.zeros(n, dtype=np.int64) if assigned_label is None else np.asarray(assigned_label)
    corrected = original_id if corrected_id is None else np.asarray(corrected_id)
    return Manifest(index=np.arange(n), path=np.array([f"img{i}.jpg" for i in range(n)]),
                    original_id=original_id.astype(np.int64), camera=np.ones(n, dtype=np.int64),
                    assigned_label=assigned.astype(np.int64),
                    corrected_id=corrected.astype(np.int64),
                    entropy=np.asarray(entropy, dtype=np.float64),
                    max_score=np.asarray(max_score, dtype=np.float64),
                    status=np.asarray(status, dtype=str), line=np.arange(2, n + 2))


# ------------------------------------------------------------------------------------------
# choose_groups


def test_choose_groups_orders_each_row_exactly():
    status = ["kept", "outlier", "pruned", "kept", "outlier", "pruned", "relabelled",
              "kept", "outlier", "pruned", "kept", "outlier"]
    entropy = [3.0, 5.0, 0.4, 4.5, 5.5, 0.1, 2.0, NAN, 6.0, 0.4, 4.5, 5.9]
    max_score = [0.5, 0.08, 0.9, 0.3, 0.02, 0.95, 0.6, 0.4, 0.08, 0.9, 0.2, NAN]
    groups = choose_groups(_manifest(status, entropy, max_score), per_group=3)
    assert list(groups) == list(GROUPS)
    # outliers 1, 4, 8, 11: max scores 0.08, 0.02, 0.08, nan -> 4 first, ties in row order, nan last
    np.testing.assert_array_equal(groups["outliers"], [4, 1, 8])
    np.testing.assert_array_equal(groups["relabelled"], [6])
    # pruned 2, 5, 9: entropies 0.4, 0.1, 0.4 -> lowest first, tie in row order
    np.testing.assert_array_equal(groups["pruned (easiest)"], [5, 2, 9])
    # kept 0, 3, 7, 10: entropies 3.0, 4.5, nan, 4.5 -> highest first, tie in row order, nan last
    np.testing.assert_array_equal(groups["kept (hardest)"], [3, 10, 0])
    full = choose_groups(_manifest(status, entropy, max_score), per_group=10)
    np.testing.assert_array_equal(full["outliers"], [4, 1, 8, 11])
    np.testing.assert_array_equal(full["kept (hardest)"], [3, 10, 0, 7])
    assert all(v.dtype == np.int64 for v in full.values())


def test_choose_groups_empty_rows_and_relabelled_sample():
    manifest = _manifest(["relabelled"] * 10, np.arange(10.0), np.full(10, 0.5))
    groups = choose_groups(manifest, per_group=4, seed=3)
    for group in ("outliers", "pruned (easiest)", "kept (hardest)"):
        assert groups[group].tolist() == []
    sample = groups["relabelled"]
    assert len(sample) == 4 and len(set(sample.tolist())) == 4
    assert sample.tolist() == sorted(sample.tolist()) and set(sample.tolist()) <= set(range(10))
    np.testing.assert_array_equal(choose_groups(manifest, 4, seed=3)["relabelled"], sample)
    samples = {tuple(choose_groups(manifest, 4, seed=s)["relabelled"].tolist()) for s in range(8)}
    assert len(samples) > 1  # the seed matters
    # at most per_group relabelled: all of them, in row order, whatever the seed
    assert choose_groups(manifest, 10, seed=5)["relabelled"].tolist() == list(range(10))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_choose_groups_rejects_bad_per_group(bad):
    with pytest.raises(ReidPruneError, match="per_group"):
        choose_groups(_manifest(["kept"], [1.0], [0.5]), per_group=bad)


def test_assigned_ids_map_labels_through_sorted_original_ids():
    # classes = [3, 8, 20]; label 1 -> 8; an out-of-range label (hand-edited) -> -1
    manifest = _manifest(["kept"] * 4, [1.0] * 4, [0.5] * 4, original_id=[20, 3, 8, 8],
                         assigned_label=[2, 1, 0, 7])
    np.testing.assert_array_equal(assigned_ids(manifest), [20, 8, 3, -1])


# ------------------------------------------------------------------------------------------
# choose_identities


def _identity_manifest():
    # id 1: 5 images, id 2: 3, id 3: 5 (one with nan entropy -> 4 usable), id 4: 1
    original_id = [1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 4]
    entropy = [2.0, 0.5, 4.0, 1.0, 3.0, 1.5, 0.2, 2.5, 0.9, NAN, 0.3, 5.0, 2.2, 1.0]
    status = ["kept"] * len(original_id)
    return _manifest(status, entropy, [0.5] * len(status), original_id=original_id)


def test_choose_identities_exact_rows_sorted_easy_to_hard():
    manifest = _identity_manifest()
    strips = choose_identities(manifest, identities=2, per_identity=4, seed=0)
    assert list(strips) == [1, 3]
    # id 1 sorted by entropy: rows 1 (0.5), 3 (1.0), 0 (2.0), 4 (3.0), 2 (4.0); 4 of 5 spread
    # evenly: positions floor(linspace(0, 4, 4) + 0.5) = 0, 1, 3, 4
    np.testing.assert_array_equal(strips[1], [1, 3, 4, 2])
    # id 3 without the nan row: 10 (0.3), 8 (0.9), 12 (2.2), 11 (5.0)
    np.testing.assert_array_equal(strips[3], [10, 8, 12, 11])


def test_choose_identities_fills_with_largest_when_few_have_enough():
    strips = choose_identities(_identity_manifest(), identities=3, per_identity=4, seed=0)
    assert list(strips) == [1, 2, 3]
    np.testing.assert_array_equal(strips[2], [6, 5, 7])  # all 3 images, easy to hard
    strips = choose_identities(_identity_manifest(), identities=9, per_identity=5)
    assert list(strips) == [1, 2, 3, 4]
    np.testing.assert_array_equal(strips[1], [1, 3, 0, 4, 2])
    np.testing.assert_array_equal(strips[4], [13])


def test_choose_identities_seeded_choice_among_eligible():
    manifest = _manifest(["kept"] * 40, np.arange(40.0) % 7, [0.5] * 40,
                         original_id=np.repeat(np.arange(10), 4))
    first = choose_identities(manifest, identities=3, per_identity=4, seed=1)
    assert len(first) == 3 and list(first) == sorted(first)
    assert list(choose_identities(manifest, 3, 4, seed=1)) == list(first)
    assert len({tuple(choose_identities(manifest, 3, 4, seed=s)) for s in range(8)}) > 1


def test_choose_identities_needs_entropy():
    with pytest.raises(ReidPruneError, match="no entropy"):
        choose_identities(_manifest(["kept"] * 2, [NAN, NAN], [0.5, 0.5]), 2, 2)


def test_histogram_counts_exact():
    values = np.array([0.05, 0.15, 0.5, 0.95, 1.0, NAN, 0.15])
    status = np.array(["outlier", "kept", "pruned", "kept", "relabelled", "kept", "outlier"])
    counts = histogram_counts(values, status, np.array([0.0, 0.1, 0.5, 1.0]))
    assert list(counts) == ["kept", "relabelled", "pruned", "outlier"]
    assert counts["kept"].tolist() == [0, 1, 1]  # 0.15 | 0.95 (nan left out)
    assert counts["relabelled"].tolist() == [0, 0, 1]  # last bin includes 1.0
    assert counts["pruned"].tolist() == [0, 0, 1]  # 0.5 falls in [0.5, 1.0]
    assert counts["outlier"].tolist() == [1, 1, 0]


# ------------------------------------------------------------------------------------------
# Figures from a tiny Market-style folder


# Distinct saturated colours, far from white, black, the status borders and each other.
COLOURS = [(0, 0, 255), (0, 255, 255), (255, 0, 255), (128, 0, 255), (0, 128, 128),
           (255, 255, 0), (128, 255, 0), (64, 0, 64), (0, 64, 255), (192, 255, 192),
           (255, 192, 255), (0, 192, 64)]
PIDS = [1, 1, 1, 1, 2, 2, 2, 2, 5, 5, 5, 5]
STATUS = ["kept", "pruned", "outlier", "kept", "relabelled", "pruned", "kept", "outlier",
          "kept", "pruned", "kept", "relabelled"]
ENTROPY = [3.0, 0.2, 5.8, 4.1, 2.0, 0.1, 1.0, 5.9, 2.5, 0.7, 4.4, 3.3]
MAX_SCORE = [0.5, 0.97, 0.06, 0.3, 0.4, 0.98, 0.7, 0.03, 0.6, 0.9, 0.2, 0.45]


@pytest.fixture()
def dataset(tmp_path):
    """Market-style folder of 12 solid-colour 32x64 images and its manifest (with noise)."""
    root = tmp_path / "market"
    (root / "bounding_box_train").mkdir(parents=True)
    names = [f"bounding_box_train/{pid:04d}_c1s1_{i:06d}_00.jpg" for i, pid in enumerate(PIDS)]
    for name, colour in zip(names, COLOURS):
        # PNG content (the decoder reads the content, not the extension) keeps colours exact
        Image.new("RGB", (32, 64), colour).save(root / name, format="PNG")
    table = make_table(root, "market1501", [str(root / n) for n in names], PIDS, [1] * 12,
                       ["train"] * 12)
    assigned = table.label.copy()
    assigned[4] = 0  # a noisy label: image of id 2 labelled as id 1, corrected back to id 2
    labels = table.label.copy()
    labels[11] = 1  # a wrong correction: id 5 -> id 2
    selection = Selection(status=np.array(STATUS), labels=labels, assigned=assigned)
    path = write_manifest(tmp_path / "out" / "manifest.csv", table, selection, ENTROPY, MAX_SCORE)
    return root, path


def _colours_present(png) -> set[int]:
    """Which of COLOURS fill a thumbnail (200+ pixels within 2 of the colour; edges blend
    with borders over far fewer pixels)."""
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(np.int16)
    found = set()
    for k, colour in enumerate(COLOURS):
        close = np.abs(pixels - np.array(colour, dtype=np.int16)).max(axis=2) <= 2
        if close.sum() >= 200:
            found.add(k)
    return found


def test_flagged_gallery_png_shows_exactly_the_chosen_images(dataset, tmp_path):
    root, manifest_path = dataset
    manifest = read_manifest(manifest_path)
    groups = choose_groups(manifest, per_group=2)
    assert {g: v.tolist() for g, v in groups.items()} == {
        "outliers": [7, 2], "relabelled": [4, 11], "pruned (easiest)": [5, 1],
        "kept (hardest)": [10, 3]}
    np.testing.assert_array_equal(assigned_ids(manifest)[[4, 11]], [1, 5])
    np.testing.assert_array_equal(manifest.corrected_id[[4, 11]], [2, 2])
    out = flagged_gallery(manifest_path, root, tmp_path / "figs" / "gallery.png", per_group=2,
                          dpi=40)
    assert out == tmp_path / "figs" / "gallery.png"
    with Image.open(out) as image:
        assert image.format == "PNG"
        # (1.5 + 2 * 1.0) in x (0.5 + 4 * 2.25) in at 40 dpi
        assert image.size == (140, 380) == gallery_size(2, 40)
    assert _colours_present(out) == {7, 2, 4, 11, 5, 1, 10, 3}
    assert sorted(p.name for p in out.parent.iterdir()) == ["gallery.png"]  # no temp left
    assert gallery_size(12) == (1350, 950)


def test_identity_strips_png(dataset, tmp_path):
    root, manifest_path = dataset
    manifest = read_manifest(manifest_path)
    strips = choose_identities(manifest, identities=2, per_identity=3, seed=0)
    assert len(strips) == 2 and set(strips) <= {1, 2, 5}
    # each identity's 4 images sorted by entropy, positions floor(linspace(0, 3, 3) + 0.5) = 0, 2, 3
    expected = {1: [1, 3, 2], 2: [5, 4, 7], 5: [9, 11, 10]}
    for pid, rows in strips.items():
        assert rows.tolist() == expected[pid]
    out = identity_strips(manifest, root, tmp_path / "strips.png", identities=2, per_identity=3,
                          dpi=40)
    with Image.open(out) as image:
        # (1.5 + 3 * 1.0) in x (0.5 + 2 * 2.25) in at 40 dpi
        assert image.size == (180, 200) == strips_size(2, 3, 40)
    assert _colours_present(out) == {i for rows in strips.values() for i in rows.tolist()}


def test_entropy_histogram_png(dataset, tmp_path):
    _, manifest_path = dataset
    out = entropy_histogram(manifest_path, tmp_path / "hist.png", delta=0.1, bins=5, dpi=30)
    with Image.open(out) as image:
        assert image.size == (300, 120)  # 10 x 4 in at 30 dpi
    with pytest.raises(ReidPruneError, match="delta"):
        entropy_histogram(manifest_path, tmp_path / "h.png", delta=-0.1)
    with pytest.raises(ReidPruneError, match="no entropy or max score"):
        entropy_histogram(_manifest(["kept"], [NAN], [NAN]), tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()


def test_missing_image_names_the_file(dataset, tmp_path):
    root, manifest_path = dataset
    (root / "bounding_box_train" / "0002_c1s1_000007_00.jpg").unlink()  # row 7, an outlier
    expected = r"line 9: image .*0002_c1s1_000007_00\.jpg does not exist"
    with pytest.raises(ReidPruneError, match=expected):
        flagged_gallery(manifest_path, root, tmp_path / "g.png", per_group=2, dpi=20)
    assert not (tmp_path / "g.png").exists()
    with pytest.raises(ReidPruneError, match="not a folder"):
        flagged_gallery(manifest_path, tmp_path / "nowhere", tmp_path / "g.png", dpi=20)


def test_paths_leaving_the_root_are_refused(tmp_path):
    manifest = _manifest(["outlier"], [1.0], [0.01])
    for bad in ("../secret.jpg", "/etc/passwd"):
        escaped = Manifest(**{**manifest.__dict__, "path": np.array([bad])})
        with pytest.raises(ReidPruneError, match="absolute|'\\.\\.'"):
            flagged_gallery(escaped, tmp_path, tmp_path / "g.png", dpi=20)


def test_in_memory_pixels(tmp_path):
    manifest = _manifest(["kept", "pruned"], [1.0, 0.1], [0.5, 0.9])
    pixels = np.zeros((2, 32, 32, 3), dtype=np.uint8)
    pixels[0] = COLOURS[0]
    pixels[1] = COLOURS[1]
    out = flagged_gallery(manifest, None, tmp_path / "g.png", per_group=1, dpi=40, pixels=pixels)
    assert _colours_present(out) == {0, 1}
    with pytest.raises(ReidPruneError, match="pixels must be a 2 x H x W x 3 uint8"):
        flagged_gallery(manifest, None, tmp_path / "g.png", pixels=pixels[:1])


def test_empty_manifest_is_refused(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text("index,path,original_id,camera,assigned_label,corrected_id,entropy,"
                    "max_score,status\n")
    empty = read_manifest(path)
    for call in (lambda: flagged_gallery(empty, tmp_path, tmp_path / "a.png"),
                 lambda: identity_strips(path, tmp_path, tmp_path / "b.png"),
                 lambda: entropy_histogram(empty, tmp_path / "c.png")):
        with pytest.raises(ReidPruneError, match="has no rows"):
            call()


def test_oversized_figure_is_refused(tmp_path):
    with pytest.raises(ReidPruneError, match="fewer images per row or lower the dpi"):
        flagged_gallery(_manifest(["kept"], [1.0], [0.5]), tmp_path, tmp_path / "g.png",
                        per_group=200, dpi=600)


# ------------------------------------------------------------------------------------------
# pruning_curve


RESULTS = {
    "random pruning": [(0.4, 80.0, 1.0), (0.0, 86.0, 0.5), (0.2, 84.0, 0.7)],
    "our pruning method": [(0.2, 86.1, 0.3), (0.4, 84.9, 0.4)],
    "no pruning": [(0.0, 86.3, 0.2)],
}


def test_check_results_sorts_by_fraction():
    series = check_results(RESULTS)
    assert list(series) == list(RESULTS)
    np.testing.assert_array_equal(series["random pruning"],
                                  [[0.0, 86.0, 0.5], [0.2, 84.0, 0.7], [0.4, 80.0, 1.0]])
    np.testing.assert_array_equal(series["no pruning"], [[0.0, 86.3, 0.2]])


def test_pruning_curve_png(tmp_path):
    out = pruning_curve(RESULTS, tmp_path / "curve.png", title="Market-1501", dpi=40)
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (260, 180)  # 6.5 x 4.5 in at 40 dpi
    only_baseline = pruning_curve({"No Pruning ": [(0.0, 50.0, 1.0)]}, tmp_path / "b.png", dpi=20)
    with Image.open(only_baseline) as image:
        assert image.size == (130, 90)


@pytest.mark.parametrize("results, message", [
    ({}, "non-empty dict"),
    ([("a", [(0.1, 1.0, 0.0)])], "non-empty dict"),
    ({"a": []}, "non-empty list"),
    ({"a": [(1.0, 80.0, 1.0)]}, r"outside \[0, 1\)"),
    ({"a": [(-0.1, 80.0, 1.0)]}, r"outside \[0, 1\)"),
    ({"a": [(20, 80.0, 1.0)]}, "not percentages"),
    ({"a": [(0.1, 80.0)]}, "is not a \\(fraction_pruned, mean, std\\) tuple"),
    ({"a": [(0.1, 80.0, 1.0, 2.0)]}, "is not a \\(fraction_pruned, mean, std\\) tuple"),
    ({"a": [(0.1, float("nan"), 1.0)]}, "not a finite number"),
    ({"a": [(0.1, 80.0, -1.0)]}, "negative"),
    ({"a": [(0.1, 80.0, 1.0), (0.1, 81.0, 1.0)]}, "more than once"),
    ({"no pruning": [(0.1, 80.0, 1.0)]}, r"exactly one \(0.0, mean, std\)"),
    ({"": [(0.1, 80.0, 1.0)]}, "non-empty strings"),
])
def test_pruning_curve_validates(tmp_path, results, message):
    with pytest.raises(ReidPruneError, match=message):
        pruning_curve(results, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
