"""ReID metrics: hand-computed cases, a brute-force reference, and cosine distances."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidprune.errors import ReidPruneError
from reidprune.eval.reid import ReIDMetrics, _rank_chunk, cosine_distance, evaluate_reid


# ---------------------------------------------------------------------------------------
# Hand-made cases
# ---------------------------------------------------------------------------------------

def _one_query(distances, gallery_pids, gallery_camids, query_pid=1, query_camid=1, **kw):
    return evaluate_reid(
        np.array([distances], dtype=np.float64), np.array([query_pid]),
        np.array(gallery_pids), np.array([query_camid]), np.array(gallery_camids), **kw,
    )


def _protocol_case():
    """Three queries against seven gallery images, columns deliberately not in rank order.

    Query 0 (pid 1, cam 1), gallery by increasing distance:
        0.10 pid 1 cam 1  -> same id AND same camera: excluded
        0.15 pid -1 cam 2 -> junk: dropped
        0.20 pid 0 cam 2  -> distractor, kept: valid rank 1 (negative)
        0.30 pid 1 cam 2  -> true match at valid rank 2
        0.40 pid 5 cam 1  -> other id in the query's camera, kept: rank 3 (negative)
        0.50 pid 1 cam 3  -> true match at valid rank 4
        0.60 pid 2 cam 3  -> rank 5 (negative)
      AP = (1/2 + 2/4) / 2 = 0.5, INP = 2 matches / rank 4 = 0.5, first match at rank 2.
    Query 1 (pid 2, cam 3): its only gallery image (pid 2) is in camera 3 too -> skipped.
    Query 2 (pid 5, cam 2): pid 5 cam 1 is the nearest image -> AP = INP = 1, rank-1 hit.
    """
    # column:           0     1     2     3     4     5     6
    gallery_pids = [2, 1, 0, 5, -1, 1, 1]
    gallery_camids = [3, 3, 2, 1, 2, 2, 1]
    distmat = np.array([
        [0.60, 0.50, 0.20, 0.40, 0.15, 0.30, 0.10],
        [0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70],
        [0.90, 0.80, 0.70, 0.05, 0.60, 0.50, 0.40],
    ])
    return distmat, np.array([1, 2, 5]), np.array(gallery_pids), np.array([1, 3, 2]), np.array(
        gallery_camids
    )


def test_protocol_case_matches_hand_computation():
    distmat, qp, gp, qc, gc = _protocol_case()
    metrics = evaluate_reid(distmat, qp, gp, qc, gc, max_rank=3)
    assert isinstance(metrics, ReIDMetrics)
    assert metrics.num_queries == 3
    assert metrics.num_valid_queries == 2  # query 1 skipped
    # rank-1: query 0 misses (first match at rank 2), query 2 hits -> 1/2.
    assert metrics.rank1 == pytest.approx(0.5, abs=1e-15)
    assert metrics.rank5 == pytest.approx(1.0, abs=1e-15)
    assert metrics.rank10 == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(metrics.cmc, [0.5, 1.0, 1.0], atol=1e-15)
    assert metrics.mAP == pytest.approx((0.5 + 1.0) / 2, abs=1e-15)
    assert metrics.mINP == pytest.approx((0.5 + 1.0) / 2, abs=1e-15)
    assert metrics.score == pytest.approx((0.5 + 0.75) / 2, abs=1e-15)


def test_as_dict_in_percent_and_fractions():
    distmat, qp, gp, qc, gc = _protocol_case()
    metrics = evaluate_reid(distmat, qp, gp, qc, gc)
    percent = metrics.as_dict()
    assert percent == pytest.approx({
        "rank1": 50.0, "rank5": 100.0, "rank10": 100.0, "mAP": 75.0, "mINP": 75.0,
        "score": 62.5, "num_queries": 3, "num_valid_queries": 2,
    })
    fractions = metrics.as_dict(percent=False)
    assert fractions["mAP"] == pytest.approx(0.75)
    assert fractions["num_valid_queries"] == 2


def test_matches_at_ranks_two_and_four():
    # Valid ranking: neg, match, neg, match -> AP = (1/2 + 2/4) / 2 = 0.5, INP = 2/4.
    metrics = _one_query([0.1, 0.2, 0.3, 0.4], [7, 1, 8, 1], [2, 2, 2, 2])
    assert metrics.rank1 == 0.0
    np.testing.assert_array_equal(metrics.cmc[:4], [0.0, 1.0, 1.0, 1.0])
    assert metrics.mAP == pytest.approx(0.5, abs=1e-15)
    assert metrics.mINP == pytest.approx(0.5, abs=1e-15)


def test_matches_at_ranks_one_and_three():
    # AP = (1/1 + 2/3) / 2 = 5/6, INP = 2/3.
    metrics = _one_query([0.1, 0.2, 0.3, 0.4], [1, 7, 1, 8], [2, 2, 3, 2])
    assert metrics.rank1 == 1.0
    assert metrics.mAP == pytest.approx(5 / 6, abs=1e-15)
    assert metrics.mINP == pytest.approx(2 / 3, abs=1e-15)


def test_same_id_same_camera_gallery_image_is_excluded():
    # The nearest image is the query's id in the query's camera: dropped. The valid ranking
    # is then [pid 2, pid 1 cam 2] -> first match at rank 2, AP = 1/2, INP = 1/2.
    metrics = _one_query([0.1, 0.2, 0.3], [1, 2, 1], [1, 2, 2])
    assert metrics.rank1 == 0.0
    assert metrics.mAP == pytest.approx(0.5, abs=1e-15)
    assert metrics.mINP == pytest.approx(0.5, abs=1e-15)


def test_other_id_in_query_camera_is_kept_as_negative():
    # pid 3 in the query's camera 1 is a valid negative ahead of the match: AP = 1/2.
    metrics = _one_query([0.1, 0.2], [3, 1], [1, 2])
    assert metrics.rank1 == 0.0
    assert metrics.mAP == pytest.approx(0.5, abs=1e-15)


def test_distractors_stay_and_junk_is_dropped():
    # Ranking: junk (dropped), distractor pid 0 (kept, negative), match.
    # -> valid ranking [distractor, match]: AP = 1/2, INP = 1/2.
    metrics = _one_query([0.1, 0.2, 0.3], [-1, 0, 1], [2, 2, 2])
    assert metrics.rank1 == 0.0
    assert metrics.mAP == pytest.approx(0.5, abs=1e-15)
    assert metrics.mINP == pytest.approx(0.5, abs=1e-15)
    # Without the distractor the match would be first.
    alone = _one_query([0.1, 0.3], [-1, 1], [2, 2])
    assert alone.rank1 == 1.0 and alone.mAP == 1.0


def test_query_without_valid_match_is_skipped():
    # Query 0 (pid 4, cam 1) only has a same-camera image of itself -> skipped; query 1
    # (pid 1) finds its match first -> every metric 1 over one valid query.
    metrics = evaluate_reid(
        np.array([[0.1, 0.5], [0.5, 0.1]]), np.array([4, 1]), np.array([4, 1]),
        np.array([1, 1]), np.array([1, 2]),
    )
    assert metrics.num_queries == 2
    assert metrics.num_valid_queries == 1
    assert (metrics.rank1, metrics.mAP, metrics.mINP, metrics.score) == (1.0, 1.0, 1.0, 1.0)


def test_no_valid_query_raises_with_explanation():
    with pytest.raises(ReidPruneError, match="no query has a true match in another camera"):
        evaluate_reid(
            np.array([[0.1, 0.2]]), np.array([1]), np.array([1, 2]), np.array([3]),
            np.array([3, 1]),
        )


def test_ties_are_broken_by_gallery_order():
    # Both images at distance 0.5: the one with the smaller gallery index ranks first.
    negative_first = _one_query([0.5, 0.5], [2, 1], [2, 2])
    assert negative_first.rank1 == 0.0 and negative_first.mAP == 0.5
    match_first = _one_query([0.5, 0.5], [1, 2], [2, 2])
    assert match_first.rank1 == 1.0 and match_first.mAP == 1.0


def test_max_rank_sets_cmc_length_only():
    distmat, qp, gp, qc, gc = _protocol_case()
    short = evaluate_reid(distmat, qp, gp, qc, gc, max_rank=1)
    long = evaluate_reid(distmat, qp, gp, qc, gc, max_rank=20)
    np.testing.assert_array_equal(short.cmc, [0.5])
    assert len(long.cmc) == 20 and long.cmc[-1] == 1.0
    assert short.rank5 == long.rank5 == 1.0


def test_accepts_torch_tensors():
    distmat, qp, gp, qc, gc = _protocol_case()
    metrics = evaluate_reid(
        torch.from_numpy(distmat).float(), torch.from_numpy(qp), torch.from_numpy(gp),
        torch.from_numpy(qc), torch.from_numpy(gc),
    )
    assert metrics.mAP == pytest.approx(0.75, abs=1e-15)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(query_pids=np.array([1, 2])), "query_pids has 2 entries"),
        (dict(gallery_camids=np.array([1, 2])), "gallery_camids has 2 entries"),
        (dict(gallery_pids=np.array([1.0, 2.0, 3.0])), "must hold integers"),
        (dict(distmat=np.array([0.1, 0.2, 0.3])), "distmat must be a 2-D array"),
        (dict(distmat=np.array([[0.1, np.nan, 0.3]])), "NaN or infinite"),
        (dict(distmat=np.zeros((0, 3))), "no rows"),
        (dict(max_rank=0), "max_rank must be a positive integer"),
        (dict(chunk_size=0), "chunk_size must be a positive integer"),
    ],
)
def test_invalid_inputs_raise(change, message):
    arguments = dict(
        distmat=np.array([[0.1, 0.2, 0.3]]), query_pids=np.array([1]),
        gallery_pids=np.array([1, 2, 1]), query_camids=np.array([1]),
        gallery_camids=np.array([2, 2, 3]),
    )
    arguments.update(change)
    with pytest.raises(ReidPruneError, match=message):
        evaluate_reid(**arguments)


# ---------------------------------------------------------------------------------------
# Brute-force reference
# ---------------------------------------------------------------------------------------

def reference_metrics(distmat, query_pids, gallery_pids, query_camids, gallery_camids, max_rank):
    """Plain-loop Market-1501 evaluation, written from the definitions."""
    average_precisions, inverse_penalties, cmc_rows = [], [], []
    for q in range(len(query_pids)):
        candidates = []
        for g in range(len(gallery_pids)):
            if gallery_pids[g] == -1:
                continue
            if gallery_pids[g] == query_pids[q] and gallery_camids[g] == query_camids[q]:
                continue
            candidates.append(g)
        # Ties broken by gallery index, as documented.
        candidates.sort(key=lambda g: (float(distmat[q][g]), g))
        match_ranks = [
            position + 1 for position, g in enumerate(candidates)
            if gallery_pids[g] == query_pids[q]
        ]
        if not match_ranks:
            continue
        precisions = [(found + 1) / rank for found, rank in enumerate(match_ranks)]
        average_precisions.append(sum(precisions) / len(match_ranks))
        inverse_penalties.append(len(match_ranks) / match_ranks[-1])
        cmc_rows.append([1.0 if match_ranks[0] <= k else 0.0 for k in range(1, max_rank + 1)])
    num_valid = len(average_precisions)
    cmc = [sum(row[k] for row in cmc_rows) / num_valid for k in range(max_rank)]
    mean_ap = sum(average_precisions) / num_valid
    return {
        "cmc": cmc, "rank1": cmc[0], "rank5": cmc[4], "rank10": cmc[9], "mAP": mean_ap,
        "mINP": sum(inverse_penalties) / num_valid, "score": (cmc[0] + mean_ap) / 2,
        "num_valid_queries": num_valid,
    }


def _random_problem(seed, num_query=30, num_gallery=200, num_ids=20, num_cameras=4):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_ids, 16))
    query_pids = rng.integers(1, num_ids, num_query)
    # Gallery ids include 0 (distractors, never queried) and -1 (junk).
    gallery_pids = rng.integers(-1, num_ids, num_gallery)
    query_camids = rng.integers(0, num_cameras, num_query)
    gallery_camids = rng.integers(0, num_cameras, num_gallery)
    query_features = centres[query_pids] + rng.normal(scale=1.5, size=(num_query, 16))
    gallery_features = centres[np.abs(gallery_pids)] + rng.normal(scale=1.5, size=(num_gallery, 16))
    # Euclidean distances, computed independently of the implementation.
    distmat = np.sqrt(
        ((query_features[:, None, :] - gallery_features[None, :, :]) ** 2).sum(axis=2)
    )
    return distmat, query_pids, gallery_pids, query_camids, gallery_camids


def _assert_matches_reference(metrics, expected):
    assert metrics.num_valid_queries == expected["num_valid_queries"]
    for key in ("rank1", "rank5", "rank10", "mAP", "mINP", "score"):
        assert abs(getattr(metrics, key) - expected[key]) <= 1e-12, key
    np.testing.assert_allclose(metrics.cmc, expected["cmc"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_matches_brute_force_reference(seed):
    distmat, qp, gp, qc, gc = _random_problem(seed)
    expected = reference_metrics(distmat, qp, gp, qc, gc, max_rank=12)
    assert 0 < expected["num_valid_queries"] <= 30
    _assert_matches_reference(evaluate_reid(distmat, qp, gp, qc, gc, max_rank=12), expected)


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_matches_brute_force_reference_with_many_ties(seed):
    # Distances rounded to one decimal: most rows have ties, broken by gallery index.
    distmat, qp, gp, qc, gc = _random_problem(seed)
    distmat = np.round(distmat, 1)
    # Leave the first rows tie-free so tied and untied rows share a chunk.
    distmat[:3] += np.arange(distmat.shape[1]) * 1e-6
    expected = reference_metrics(distmat, qp, gp, qc, gc, max_rank=10)
    _assert_matches_reference(evaluate_reid(distmat, qp, gp, qc, gc), expected)


def _stats_by_stable_argsort(distances, qp, qc, gp, gc):
    """Per-query statistics from ``np.argsort(kind="stable")``, the documented tie rule."""
    stats = []
    for row in range(len(distances)):
        order = np.argsort(distances[row], kind="stable")
        keep = ~((gp[order] == qp[row]) & (gc[order] == qc[row]))
        ranks = np.flatnonzero(gp[order][keep] == qp[row]) + 1
        if len(ranks):
            stats.append((len(ranks), ranks[0], ranks[-1], (np.arange(1, len(ranks) + 1) / ranks).sum()))
        else:
            stats.append((0, np.iinfo(np.int32).max, 0, 0.0))
    return [np.array(column) for column in zip(*stats)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_ranking_equals_numpy_stable_argsort(dtype):
    rng = np.random.default_rng(3)
    distances = rng.integers(0, 6, size=(40, 300)).astype(dtype)  # long runs of ties
    distances[:5] = rng.permutation(300)  # rows without ties
    distances[5] = 0  # one run covering the whole row
    if dtype != np.int64:
        distances[6, ::2] = -0.0  # -0.0 == 0.0: one run, ordered by index
    qp, qc = rng.integers(0, 4, 40), rng.integers(0, 2, 40)
    gp, gc = rng.integers(0, 4, 300), rng.integers(0, 2, 300)
    expected = _stats_by_stable_argsort(distances, qp, qc, gp, gc)
    for got, want in zip(_rank_chunk(distances, qp, qc, gp, gc), expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 7, 30, 1000])
def test_result_does_not_depend_on_chunk_size(chunk_size):
    distmat, qp, gp, qc, gc = _random_problem(11)
    expected = reference_metrics(distmat, qp, gp, qc, gc, max_rank=10)
    metrics = evaluate_reid(distmat, qp, gp, qc, gc, chunk_size=chunk_size)
    _assert_matches_reference(metrics, expected)


# ---------------------------------------------------------------------------------------
# Cosine distance
# ---------------------------------------------------------------------------------------

def test_cosine_distance_by_hand():
    query = np.array([[3.0, 4.0], [0.0, 0.0]])
    gallery = np.array([[1.0, 0.0], [0.0, 2.0], [-3.0, -4.0]])
    # cos([3,4],[1,0]) = 3/5, cos([3,4],[0,2]) = 4/5, cos([3,4],[-3,-4]) = -1.
    # The zero query vector has cosine 0 with everything -> distance 1.
    expected = np.array([[1 - 3 / 5, 1 - 4 / 5, 2.0], [1.0, 1.0, 1.0]])
    distances = cosine_distance(query, gallery)
    assert distances.dtype == np.float64
    np.testing.assert_allclose(distances, expected, rtol=0, atol=1e-15)


def test_cosine_distance_is_scale_invariant_and_accepts_tensors():
    query = torch.tensor([[1.0, 2.0, 2.0]])  # norm 3
    gallery = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, -5.0]])
    # cos = 1/3 and -2/3 -> distances 2/3 and 5/3.
    np.testing.assert_allclose(cosine_distance(query, gallery), [[2 / 3, 5 / 3]], atol=1e-7)
    np.testing.assert_allclose(
        cosine_distance(query.numpy() * 10, gallery.numpy()), [[2 / 3, 5 / 3]], atol=1e-7
    )


@pytest.mark.parametrize(
    "query, gallery, message",
    [
        (np.ones((2, 3)), np.ones((4, 5)), "dimension 3 but gallery_features have 5"),
        (np.ones(3), np.ones((4, 3)), "query_features must be a 2-D array"),
        (np.ones((2, 3)), np.full((4, 3), np.nan), "gallery_features contains NaN"),
    ],
)
def test_cosine_distance_rejects_bad_inputs(query, gallery, message):
    with pytest.raises(ReidPruneError, match=message):
        cosine_distance(query, gallery)
