"""Evaluation from features in blocks equals the full-matrix evaluation, ties and filters included."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidprune.errors import ReidPruneError
from reidprune.eval import reid
from reidprune.eval.reid import (
    _rank_chunk, _TorchRanker, evaluate_reid, evaluate_reid_features, query_block_size,
)

from test_reid_metrics import reference_metrics


def _features_problem(seed, num_query=40, num_gallery=260, num_ids=15, num_cameras=2, dim=12):
    """Random features with an id structure; gallery pids include 0 (distractors) and -1 (junk)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_ids, dim))
    query_pids = rng.integers(1, num_ids, num_query)
    gallery_pids = rng.integers(-1, num_ids, num_gallery)
    # Two cameras: many gallery images share the query's id AND camera (to be filtered).
    query_camids = rng.integers(0, num_cameras, num_query)
    gallery_camids = rng.integers(0, num_cameras, num_gallery)
    query = centres[query_pids] + rng.normal(scale=1.0, size=(num_query, dim))
    gallery = centres[np.abs(gallery_pids)] + rng.normal(scale=1.0, size=(num_gallery, dim))
    return (query.astype(np.float32), gallery.astype(np.float32), query_pids, gallery_pids,
            query_camids, gallery_camids)


def _full_float32_distances(query, gallery):
    """The whole Q x G float32 matrix, written independently of the implementation."""
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    return np.clip(1.0 - q @ g.T, 0.0, 2.0).astype(np.float32)


def _assert_same(chunked, full):
    assert chunked.as_dict() == full.as_dict()
    np.testing.assert_array_equal(chunked.cmc, full.cmc)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("budget_mb, gallery_chunk", [(0.01, 7), (0.05, 64), (1024, 8192)])
def test_chunked_equals_full_matrix(seed, budget_mb, gallery_chunk):
    q, g, qp, gp, qc, gc = _features_problem(seed)
    assert ((gp[None, :] == qp[:, None]) & (gc[None, :] == qc[:, None])).any()  # filter exercised
    full = evaluate_reid(_full_float32_distances(q, g), qp, gp, qc, gc, max_rank=15)
    chunked = evaluate_reid_features(q, g, qp, gp, qc, gc, max_rank=15,
                                     memory_budget_mb=budget_mb, gallery_chunk=gallery_chunk)
    _assert_same(chunked, full)


def _tied_problem(seed, num_query=30, num_gallery=150, dim=6):
    """Gallery features are scaled one-hot vectors: a query's cosine with a gallery image is
    exactly one coordinate of the normalised query, so every gallery image on the same axis
    is at exactly the same distance (long runs of ties), however the product is blocked."""
    rng = np.random.default_rng(seed)
    axes = rng.integers(0, dim, num_gallery)
    gallery = np.zeros((num_gallery, dim), dtype=np.float32)
    gallery[np.arange(num_gallery), axes] = rng.uniform(0.5, 3.0, num_gallery)
    gallery_pids = rng.integers(-1, 8, num_gallery)
    gallery_camids = rng.integers(0, 2, num_gallery)
    query = rng.normal(size=(num_query, dim)).astype(np.float32)
    query_pids = rng.integers(1, 8, num_query)
    query_camids = rng.integers(0, 2, num_query)
    return query, gallery, query_pids, gallery_pids, query_camids, gallery_camids


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("budget_mb, gallery_chunk", [(0.005, 11), (1024, 8192)])
def test_chunked_ties_follow_gallery_order_like_brute_force(seed, budget_mb, gallery_chunk):
    q, g, qp, gp, qc, gc = _tied_problem(seed)
    distances = _full_float32_distances(q, g)
    assert len(np.unique(distances[0])) <= 6  # at most one distance per axis: ties everywhere
    expected = reference_metrics(distances, qp, gp, qc, gc, max_rank=10)
    chunked = evaluate_reid_features(q, g, qp, gp, qc, gc, memory_budget_mb=budget_mb,
                                     gallery_chunk=gallery_chunk)
    assert chunked.num_valid_queries == expected["num_valid_queries"]
    for key in ("rank1", "rank5", "rank10", "mAP", "mINP", "score"):
        assert abs(getattr(chunked, key) - expected[key]) <= 1e-12, key
    _assert_same(chunked, evaluate_reid(distances, qp, gp, qc, gc))


def test_tie_and_same_camera_by_hand():
    # Query (pid 1, cam 0) along x. Gallery: [pid 1 cam 0 on x (same id+camera: dropped),
    # pid 2 on x, pid 1 cam 1 on x, pid 3 on y]. The three x images tie at distance 0;
    # by gallery order the valid ranking is [pid 2, pid 1, pid 3] -> AP = 1/2, rank-1 miss.
    query = np.array([[1.0, 0.0]], dtype=np.float32)
    gallery = np.array([[2.0, 0.0], [1.0, 0.0], [5.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    metrics = evaluate_reid_features(query, gallery, [1], [1, 2, 1, 3], [0], [0, 0, 1, 0])
    assert metrics.rank1 == 0.0 and metrics.mAP == 0.5 and metrics.mINP == 0.5
    # Swap the two tied candidates: the match now comes first.
    swapped = evaluate_reid_features(query, gallery[[0, 2, 1, 3]], [1], [1, 1, 2, 3], [0], [0, 1, 0, 0])
    assert swapped.rank1 == 1.0 and swapped.mAP == 1.0


def test_never_ranks_more_rows_than_the_budget_allows(monkeypatch):
    q, g, qp, gp, qc, gc = _features_problem(5)
    shapes = []

    def spy(distances, *args):
        shapes.append(distances.shape)
        return _rank_chunk(distances, *args)

    monkeypatch.setattr(reid, "_rank_chunk", spy)
    kept = int((gp != -1).sum())
    rows = query_block_size(kept, 0.05)
    assert 1 < rows < len(q)
    evaluate_reid_features(q, g, qp, gp, qc, gc, memory_budget_mb=0.05)
    assert max(s[0] for s in shapes) == rows and sum(s[0] for s in shapes) == len(q)
    assert {s[1] for s in shapes} == {kept}  # junk columns dropped


def test_query_block_size_from_budget():
    # MSMT17: G = 82,161; 512 MiB / (16 B x 82,161) = 408 rows (134 MB of float32 distances).
    assert query_block_size(82_161, 512) == 408
    assert query_block_size(82_161, 1024, bytes_per_distance=64) == 204
    assert query_block_size(82_161, 0.001) == 1
    assert query_block_size(10, 1) == 2**20 // 160


@pytest.mark.parametrize("seed", [0, 6])
def test_torch_ranking_equals_numpy_ranking(seed):
    rng = np.random.default_rng(seed)
    distances = rng.integers(0, 5, size=(25, 90)).astype(np.float32)  # many ties
    distances[:3] = rng.random((3, 90))
    qp, qc = rng.integers(0, 6, 25), rng.integers(0, 2, 25)
    gp, gc = rng.integers(0, 6, 90), rng.integers(0, 2, 90)
    expected = _rank_chunk(distances, qp, qc, gp, gc)
    got = _TorchRanker(gp, gc, torch.device("cpu"))(torch.from_numpy(distances), qp, qc)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, rtol=0, atol=1e-12)


def test_accepts_tensors_and_float64():
    q, g, qp, gp, qc, gc = _features_problem(7)
    base = evaluate_reid_features(q, g, qp, gp, qc, gc)
    from_tensors = evaluate_reid_features(torch.from_numpy(q), torch.from_numpy(g), torch.from_numpy(qp),
                                          torch.from_numpy(gp), torch.from_numpy(qc), torch.from_numpy(gc))
    _assert_same(from_tensors, base)
    # float64 input is cast to float32: identical distances, identical metrics.
    _assert_same(evaluate_reid_features(q.astype(np.float64), g.astype(np.float64), qp, gp, qc, gc), base)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(gallery_features=np.ones((3, 5), np.float32)), "dimension 4 but gallery_features have 5"),
        (dict(query_features=np.full((1, 4), np.nan, np.float32)), "query_features contains NaN"),
        (dict(query_features=np.ones(4, np.float32)), "query_features must be a 2-D array"),
        (dict(query_features=np.ones((0, 4), np.float32), query_pids=[], query_camids=[]), "no rows"),
        (dict(gallery_pids=[1, 2]), "gallery_pids has 2 entries"),
        (dict(memory_budget_mb=0), "memory_budget_mb must be a positive number"),
        (dict(gallery_chunk=0), "gallery_chunk must be a positive integer"),
    ],
)
def test_invalid_inputs_raise(change, message):
    arguments = dict(query_features=np.ones((1, 4), np.float32), gallery_features=np.eye(3, 4, dtype=np.float32),
                     query_pids=[1], gallery_pids=[1, 2, 1], query_camids=[1], gallery_camids=[2, 2, 3])
    arguments.update(change)
    with pytest.raises(ReidPruneError, match=message):
        evaluate_reid_features(**arguments)
