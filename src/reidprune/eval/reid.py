"""Re-identification metrics: cosine distances, CMC, mAP and mINP (Market-1501 protocol).

The protocol, for every query:

1. gallery images with identity ``-1`` ("junk") are dropped for every query;
2. gallery images with the query's identity *and* the query's camera are dropped (a match
   seen by the same camera is too easy to count);
3. what remains is ranked by distance, smallest first; gallery images of identities that no
   query has (distractors, e.g. Market-1501's pid ``0``) stay in the ranking;
4. a query with no remaining true match is skipped (and counted in ``num_queries`` but not
   in ``num_valid_queries``).

Ties in distance are broken by gallery order: the ranking uses a stable sort
(``np.argsort(kind="stable")``), so of two equally distant gallery images the one with the
smaller gallery index ranks first. The metrics are therefore deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import check_int

JUNK_PID = -1

# Rows of the distance matrix ranked at once. The per-chunk work arrays take about
# 12 bytes per float32 distance (20 per float64), ~40 MB for 128 x 15,913 (Market-1501).
DEFAULT_CHUNK_SIZE = 128


@dataclass(frozen=True)
class ReIDMetrics:
    """ReID evaluation results; every rate is a fraction in [0, 1].

    Attributes
    ----------
    rank1, rank5, rank10:
        CMC at ranks 1, 5 and 10: the fraction of valid queries whose first true match is
        among the k nearest valid gallery images.
    cmc:
        CMC curve, ``cmc[k - 1]`` is the rate at rank k, length ``max_rank``.
    mAP:
        Mean over valid queries of the average precision.
    mINP:
        Mean over valid queries of the inverse negative penalty (number of true matches
        divided by the rank of the last true match; Ye et al. 2021).
    score:
        ``(rank1 + mAP) / 2``, the y-axis of the paper's plots.
    num_queries:
        Queries given.
    num_valid_queries:
        Queries with at least one true match in another camera (the others are skipped).
    """

    rank1: float
    rank5: float
    rank10: float
    cmc: np.ndarray
    mAP: float
    mINP: float
    score: float
    num_queries: int
    num_valid_queries: int

    def as_dict(self, percent: bool = True) -> dict[str, float | int]:
        """Scalar metrics as a flat dict (the CMC curve is left out; read ``cmc``).

        Parameters
        ----------
        percent:
            Multiply the rates (rank1, rank5, rank10, mAP, mINP, score) by 100.

        Returns
        -------
        dict
            Keys ``rank1, rank5, rank10, mAP, mINP, score, num_queries, num_valid_queries``.
        """
        scale = 100.0 if percent else 1.0
        rates = {
            "rank1": self.rank1, "rank5": self.rank5, "rank10": self.rank10,
            "mAP": self.mAP, "mINP": self.mINP, "score": self.score,
        }
        out: dict[str, float | int] = {k: float(v) * scale for k, v in rates.items()}
        out["num_queries"] = self.num_queries
        out["num_valid_queries"] = self.num_valid_queries
        return out


def _to_numpy(values) -> np.ndarray:
    """A numpy view of a numpy array, list or (CPU or GPU) torch tensor."""
    if hasattr(values, "detach"):  # torch tensor; avoids importing torch here
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _check_features(features, name: str) -> np.ndarray:
    array = _to_numpy(features)
    if array.ndim != 2:
        raise ReidPruneError(
            f"{name} must be a 2-D array (num_images x feature_dim), got shape {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ReidPruneError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        raise ReidPruneError(
            f"{name} contains NaN or infinite values; check the model output "
            "(a diverged model or a broken checkpoint)"
        )
    return array


def _l2_normalise(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    # A zero vector stays zero (cosine similarity 0 with everything) instead of dividing by 0.
    return features / np.where(norms > 0, norms, 1.0)


def cosine_distance(query_features, gallery_features) -> np.ndarray:
    """Cosine distance ``1 - cos(q, g)`` between every query and every gallery feature.

    Parameters
    ----------
    query_features:
        Q x D array or torch tensor of query features.
    gallery_features:
        G x D array or torch tensor of gallery features.

    Returns
    -------
    np.ndarray
        Q x G float64 distances in [0, 2]. A zero feature vector has distance 1 to
        everything.
    """
    query = _l2_normalise(_check_features(query_features, "query_features"))
    gallery = _l2_normalise(_check_features(gallery_features, "gallery_features"))
    if query.shape[1] != gallery.shape[1]:
        raise ReidPruneError(
            f"query_features have dimension {query.shape[1]} but gallery_features have "
            f"{gallery.shape[1]}; extract both with the same model"
        )
    distances = query @ gallery.T
    np.subtract(1.0, distances, out=distances)
    # Rounding can push 1 - cos a hair outside [0, 2].
    return np.clip(distances, 0.0, 2.0, out=distances)


def _check_ids(values, name: str, length: int, length_name: str) -> np.ndarray:
    array = _to_numpy(values)
    if array.ndim != 1:
        raise ReidPruneError(f"{name} must be a 1-D array, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ReidPruneError(f"{name} must hold integers, got dtype {array.dtype}")
    if len(array) != length:
        raise ReidPruneError(
            f"{name} has {len(array)} entries but {length_name} is {length}; "
            "pass one entry per image, in the same order as the distance matrix"
        )
    return array.astype(np.int64, copy=False)


def _check_distmat(distmat) -> np.ndarray:
    array = _to_numpy(distmat)
    if array.ndim != 2:
        raise ReidPruneError(
            f"distmat must be a 2-D array (num_query x num_gallery), got shape {array.shape}"
        )
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
        raise ReidPruneError(f"distmat must hold real numbers, got dtype {array.dtype}")
    if array.shape[0] == 0:
        raise ReidPruneError("distmat has no rows: there are no query images to evaluate")
    return array


def _rank_chunk(
    distances: np.ndarray,
    query_pids: np.ndarray,
    query_camids: np.ndarray,
    gallery_pids: np.ndarray,
    gallery_camids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-query statistics for a block of rows of the distance matrix.

    Returns, per query: number of true matches, rank of the first and of the last true
    match in the valid ranking (1-based), and the sum over true matches of the precision
    at that match.

    No row is argsorted: the rank of a true match at distance ``t`` and gallery index ``c``
    is one plus the number of valid gallery images before it in the stable order, i.e.
    with a distance below ``t``, or equal to ``t`` and an index below ``c``. The first count
    comes from a binary search in the row's sorted VALUES (numpy sorts values several times
    faster than it argsorts them), the second, only for distances that occur more than
    once, from the gallery indices of the equal images. The ranking is the one of
    ``np.argsort(row, kind="stable")`` over the valid images.
    """
    if not np.isfinite(distances).all():
        raise ReidPruneError(
            "distmat contains NaN or infinite distances; check the features it was computed from"
        )
    num_rows = distances.shape[0]
    same_pid = gallery_pids[None, :] == query_pids[:, None]
    invalid = same_pid & (gallery_camids[None, :] == query_camids[:, None])
    true_match = same_pid & ~invalid
    del same_pid
    # Integers are compared as float64 (exact below 2**53); excluded images sort last as +inf.
    dtype = distances.dtype if np.issubdtype(distances.dtype, np.floating) else np.float64
    distances = distances.astype(dtype, copy=False)
    sorted_valid = np.where(invalid, np.inf, distances)
    sorted_valid.sort(axis=1)

    no_rank = np.iinfo(np.int32).max
    num_matches = np.zeros(num_rows, dtype=np.int64)
    first_rank = np.full(num_rows, no_rank, dtype=np.int64)
    last_rank = np.zeros(num_rows, dtype=np.int64)
    precision_sum = np.zeros(num_rows, dtype=np.float64)
    for row in range(num_rows):
        columns = np.flatnonzero(true_match[row])
        if not len(columns):
            continue
        values = distances[row, columns]
        below = np.searchsorted(sorted_valid[row], values, side="left")
        equal = np.searchsorted(sorted_valid[row], values, side="right") - below
        ranks = below + 1
        for tied_value in np.unique(values[equal > 1]):
            # Valid images at exactly this distance come in gallery order.
            same = np.flatnonzero((distances[row] == tied_value) & ~invalid[row])
            at_value = values == tied_value
            ranks[at_value] += np.searchsorted(same, columns[at_value])
        ranks.sort()
        num_matches[row] = len(ranks)
        first_rank[row], last_rank[row] = ranks[0], ranks[-1]
        precision_sum[row] = (np.arange(1, len(ranks) + 1) / ranks).sum()
    return num_matches, first_rank, last_rank, precision_sum


def evaluate_reid(
    distmat,
    query_pids,
    gallery_pids,
    query_camids,
    gallery_camids,
    max_rank: int = 10,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> ReIDMetrics:
    """CMC, mAP and mINP of a query x gallery distance matrix (Market-1501 protocol).

    See the module docstring for the protocol (junk ``-1`` gallery images dropped,
    same-identity same-camera gallery images dropped per query, queries without a true
    match skipped, distractors kept, ties broken by gallery order).

    Parameters
    ----------
    distmat:
        Q x G array or torch tensor of distances (smaller = more similar), e.g. from
        :func:`cosine_distance`.
    query_pids:
        Q integer identities of the queries.
    gallery_pids:
        G integer identities of the gallery images; ``-1`` marks junk images.
    query_camids:
        Q integer camera ids of the queries.
    gallery_camids:
        G integer camera ids of the gallery images.
    max_rank:
        Length of the returned CMC curve. ``rank5`` and ``rank10`` are reported whatever
        its value.
    chunk_size:
        Queries ranked at once; memory grows as ``chunk_size * G``. The result does not
        depend on it.

    Returns
    -------
    ReIDMetrics

    Raises
    ------
    ReidPruneError
        On malformed inputs, or if no query has a true match in another camera.
    """
    distances = _check_distmat(distmat)
    num_query, num_gallery = distances.shape
    query_pids = _check_ids(query_pids, "query_pids", num_query, "the number of distmat rows")
    query_camids = _check_ids(query_camids, "query_camids", num_query, "the number of distmat rows")
    gallery_pids = _check_ids(
        gallery_pids, "gallery_pids", num_gallery, "the number of distmat columns"
    )
    gallery_camids = _check_ids(
        gallery_camids, "gallery_camids", num_gallery, "the number of distmat columns"
    )
    check_int(max_rank, "max_rank", minimum=1)
    check_int(chunk_size, "chunk_size", minimum=1)

    kept = gallery_pids != JUNK_PID
    has_junk = not kept.all()
    if has_junk:
        gallery_pids, gallery_camids = gallery_pids[kept], gallery_camids[kept]

    num_matches = np.empty(num_query, dtype=np.int64)
    first_rank = np.empty(num_query, dtype=np.int64)
    last_rank = np.empty(num_query, dtype=np.int64)
    precision_sum = np.empty(num_query, dtype=np.float64)
    for start in range(0, num_query, chunk_size):
        rows = slice(start, min(start + chunk_size, num_query))
        # Junk columns are dropped chunk by chunk so the full matrix is never copied.
        block = distances[rows][:, kept] if has_junk else distances[rows]
        stats = _rank_chunk(
            block, query_pids[rows], query_camids[rows], gallery_pids, gallery_camids
        )
        num_matches[rows], first_rank[rows], last_rank[rows], precision_sum[rows] = stats

    return _metrics_from_stats(num_matches, first_rank, last_rank, precision_sum, max_rank)


def _metrics_from_stats(num_matches: np.ndarray, first_rank: np.ndarray, last_rank: np.ndarray,
                        precision_sum: np.ndarray, max_rank: int) -> ReIDMetrics:
    """CMC, mAP and mINP from the per-query statistics of :func:`_rank_chunk`."""
    num_query = len(num_matches)
    is_valid = num_matches > 0
    num_valid = int(is_valid.sum())
    if num_valid == 0:
        raise ReidPruneError(
            f"no query has a true match in another camera (0 of {num_query} queries); this "
            "usually means the query and gallery ids or camera ids do not belong together "
            "(wrong split, relabelled training ids, or all cameras set to the same value)"
        )
    matches = num_matches[is_valid].astype(np.float64)
    average_precision = precision_sum[is_valid] / matches
    inverse_negative_penalty = matches / last_rank[is_valid]
    ranks = np.arange(1, max(max_rank, 10) + 1)
    cmc_full = (first_rank[is_valid][:, None] <= ranks[None, :]).mean(axis=0)

    rank1 = float(cmc_full[0])
    mean_ap = float(average_precision.mean())
    return ReIDMetrics(
        rank1=rank1,
        rank5=float(cmc_full[4]),
        rank10=float(cmc_full[9]),
        cmc=cmc_full[:max_rank].copy(),
        mAP=mean_ap,
        mINP=float(inverse_negative_penalty.mean()),
        score=(rank1 + mean_ap) / 2.0,
        num_queries=int(num_query),
        num_valid_queries=num_valid,
    )


# ---------------------------------------------------------------------------------------
# Evaluation from features in blocks: the Q x G distance matrix is never built
# ---------------------------------------------------------------------------------------

#: Default working-memory budget of :func:`evaluate_reid_features`, in MiB.
DEFAULT_MEMORY_BUDGET_MB = 512

#: Bytes of working memory one distance of a query block costs while it is ranked on the CPU
#: (the float32 distance, a copy without junk columns, three boolean masks and the float32
#: sorted values; measured with tracemalloc: about 10 besides the distance itself).
BYTES_PER_DISTANCE_CPU = 16

#: The same for the torch ranking on an accelerator (int64 sort order, gathered int64 ids
#: and cameras, int32 cumulative counts, float64 precisions: about 50).
BYTES_PER_DISTANCE_TORCH = 64


def query_block_size(num_gallery: int, memory_budget_mb: float,
                     bytes_per_distance: int = BYTES_PER_DISTANCE_CPU) -> int:
    """Queries ranked at once so that a block's work arrays fit in ``memory_budget_mb``.

    Parameters
    ----------
    num_gallery:
        G, the gallery size (columns of a block).
    memory_budget_mb:
        Working memory allowed for one block, in MiB (the features themselves not counted).
    bytes_per_distance:
        Working memory per distance: :data:`BYTES_PER_DISTANCE_CPU` for the numpy ranking,
        :data:`BYTES_PER_DISTANCE_TORCH` for the torch one.

    Returns
    -------
    int
        ``max(1, budget // (bytes_per_distance * G))``; at MSMT17 size (G = 82,161) a
        512 MiB budget gives 408 queries per block on the CPU (a 134 MB float32 block).
    """
    budget = float(memory_budget_mb) * 2**20
    return max(1, int(budget // (bytes_per_distance * max(num_gallery, 1))))


def evaluate_reid_features(
    query_features,
    gallery_features,
    query_pids,
    gallery_pids,
    query_camids,
    gallery_camids,
    max_rank: int = 10,
    *,
    device=None,
    memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB,
    gallery_chunk: int = 8192,
) -> ReIDMetrics:
    """CMC, mAP and mINP from features, in bounded memory (never the full Q x G matrix).

    Cosine distances are computed in float32 (on ``device``) for a block of queries against
    the gallery in chunks of ``gallery_chunk`` columns, the block is ranked and reduced to
    four numbers per query, and the next block follows. Block size comes from
    ``memory_budget_mb`` (see :func:`query_block_size`). The protocol and the tie rule are
    those of :func:`evaluate_reid` (equal distances ranked by gallery index, a stable sort),
    and the result equals ``evaluate_reid`` on the same float32 distances.

    Memory: the features (float32, on ``device``) plus about ``memory_budget_mb`` of work
    arrays plus one normalised gallery chunk (``gallery_chunk * D * 4`` bytes).

    Parameters
    ----------
    query_features, gallery_features:
        Q x D and G x D arrays or torch tensors (any real dtype; a float32 input is not copied
        on the CPU). Need not be normalised.
    query_pids, gallery_pids, query_camids, gallery_camids:
        As for :func:`evaluate_reid` (``-1`` gallery pids are junk).
    max_rank:
        Length of the returned CMC curve.
    device:
        Torch device for the distances and, off the CPU, the ranking (``None`` = CPU). On the
        CPU the ranking uses numpy; elsewhere ``torch.sort(stable=True)``.
    memory_budget_mb:
        Working memory for one query block, in MiB. The result does not depend on it.
    gallery_chunk:
        Gallery rows normalised and multiplied at once. The result does not depend on it.

    Returns
    -------
    ReIDMetrics

    Raises
    ------
    ReidPruneError
        On malformed features or ids, or if no query has a true match in another camera.
    """
    import torch

    device = torch.device("cpu" if device is None else device)
    query = _features_tensor(query_features, "query_features")
    gallery = _features_tensor(gallery_features, "gallery_features")
    if query.shape[1] != gallery.shape[1]:
        raise ReidPruneError(
            f"query_features have dimension {query.shape[1]} but gallery_features have "
            f"{gallery.shape[1]}; extract both with the same model"
        )
    num_query, num_gallery = len(query), len(gallery)
    if num_query == 0:
        raise ReidPruneError("query_features has no rows: there are no query images to evaluate")
    query_pids = _check_ids(query_pids, "query_pids", num_query, "the number of query features")
    query_camids = _check_ids(query_camids, "query_camids", num_query, "the number of query features")
    gallery_pids = _check_ids(gallery_pids, "gallery_pids", num_gallery, "the number of gallery features")
    gallery_camids = _check_ids(
        gallery_camids, "gallery_camids", num_gallery, "the number of gallery features"
    )
    check_int(max_rank, "max_rank", minimum=1)
    check_int(gallery_chunk, "gallery_chunk", minimum=1)
    if isinstance(memory_budget_mb, bool) or not np.isfinite(memory_budget_mb) or memory_budget_mb <= 0:
        raise ReidPruneError(f"memory_budget_mb must be a positive number, got {memory_budget_mb!r}")

    kept = gallery_pids != JUNK_PID
    kept_columns = None if kept.all() else np.flatnonzero(kept)
    gallery_pids, gallery_camids = gallery_pids[kept], gallery_camids[kept]
    query = _l2_normalise_tensor(query.to(device, torch.float32))
    gallery = gallery.to(device)  # a no-op on the CPU: normalised chunk by chunk below
    norms = _row_norms(gallery, gallery_chunk)
    torch_ranker = None if device.type == "cpu" else _TorchRanker(gallery_pids, gallery_camids, device)

    per_distance = BYTES_PER_DISTANCE_CPU if torch_ranker is None else BYTES_PER_DISTANCE_TORCH
    block_rows = query_block_size(len(gallery_pids), memory_budget_mb, per_distance)
    stats = [np.empty(num_query, dtype=np.int64) for _ in range(3)] + [np.empty(num_query)]
    block = torch.empty((min(block_rows, num_query), num_gallery), dtype=torch.float32, device=device)
    for start in range(0, num_query, block_rows):
        rows = slice(start, min(start + block_rows, num_query))
        distances = block[: rows.stop - rows.start]
        _cosine_block(query[rows], gallery, norms, gallery_chunk, out=distances)
        if kept_columns is not None:
            distances = distances[:, torch.as_tensor(kept_columns, device=device)]
        if torch_ranker is None:
            result = _rank_chunk(distances.numpy(), query_pids[rows], query_camids[rows],
                                 gallery_pids, gallery_camids)
        else:
            result = torch_ranker(distances, query_pids[rows], query_camids[rows])
        for target, values in zip(stats, result):
            target[rows] = values
        del distances
    return _metrics_from_stats(*stats, max_rank)


def _features_tensor(features, name: str):
    """A 2-D real torch tensor sharing memory with ``features`` where it can; checked finite."""
    import torch

    tensor = features if isinstance(features, torch.Tensor) else torch.as_tensor(np.asarray(features))
    if tensor.dim() != 2:
        raise ReidPruneError(
            f"{name} must be a 2-D array (num_images x feature_dim), got shape {tuple(tensor.shape)}"
        )
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise ReidPruneError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    # Checked in slices so a large float32 gallery is not copied to a boolean mask at once.
    for start in range(0, len(tensor), 16384):
        if not bool(torch.isfinite(tensor[start:start + 16384]).all()):
            raise ReidPruneError(
                f"{name} contains NaN or infinite values; check the model output "
                "(a diverged model or a broken checkpoint)"
            )
    return tensor


def _l2_normalise_tensor(features):
    import torch

    norms = torch.linalg.vector_norm(features, dim=1, keepdim=True)
    # A zero vector stays zero (cosine similarity 0 with everything) instead of dividing by 0.
    return features / torch.where(norms > 0, norms, torch.ones_like(norms))


def _row_norms(gallery, chunk: int):
    """float32 ``||g||`` per gallery row (1 for a zero row), computed chunk by chunk."""
    import torch

    norms = torch.empty(len(gallery), dtype=torch.float32, device=gallery.device)
    for start in range(0, len(gallery), chunk):
        values = torch.linalg.vector_norm(gallery[start:start + chunk].to(torch.float32), dim=1)
        norms[start:start + chunk] = torch.where(values > 0, values, torch.ones_like(values))
    return norms


def _cosine_block(query, gallery, norms, chunk: int, out) -> None:
    """``out = clip(1 - query @ normalise(gallery).T, 0, 2)`` with the gallery in chunks.

    ``query`` is already normalised; each gallery chunk is normalised just before its
    product, so no normalised copy of the whole gallery is ever held.
    """
    import torch

    for start in range(0, len(gallery), chunk):
        stop = min(start + chunk, len(gallery))
        # Divided, not multiplied by an inverse: a row divided by its own norm is exact where
        # it can be (a one-hot row stays one-hot), as in a plain ``g / ||g||``.
        normalised = gallery[start:stop].to(torch.float32) / norms[start:stop, None]
        out[:, start:stop] = query @ normalised.T
    # Rounding can push 1 - cos a hair outside [0, 2].
    out.neg_().add_(1.0).clamp_(0.0, 2.0)


class _TorchRanker:
    """:func:`_rank_chunk` in torch, for distance blocks on an accelerator."""

    def __init__(self, gallery_pids: np.ndarray, gallery_camids: np.ndarray, device):
        import torch

        self.device = device
        self.gallery_pids = torch.as_tensor(gallery_pids, device=device)
        self.gallery_camids = torch.as_tensor(gallery_camids, device=device)

    def __call__(self, distances, query_pids: np.ndarray, query_camids: np.ndarray):
        import torch

        order = torch.sort(distances, dim=1, stable=True).indices
        query_pids = torch.as_tensor(query_pids, device=self.device)[:, None]
        query_camids = torch.as_tensor(query_camids, device=self.device)[:, None]
        same_pid = self.gallery_pids[order] == query_pids
        valid = ~(same_pid & (self.gallery_camids[order] == query_camids))
        del order
        true_match = same_pid & valid
        valid_rank = torch.cumsum(valid, dim=1, dtype=torch.int32)
        hits = torch.cumsum(true_match, dim=1, dtype=torch.int32)
        num_matches = hits[:, -1] if hits.shape[1] else torch.zeros(len(hits), dtype=torch.int32,
                                                                    device=self.device)
        no_rank = torch.iinfo(torch.int32).max
        zero = torch.zeros((), dtype=torch.int32, device=self.device)
        last_rank = torch.where(true_match, valid_rank, zero).amax(dim=1) if hits.shape[1] \
            else torch.zeros_like(num_matches)
        first_rank = torch.where(true_match, valid_rank, zero + no_rank).amin(dim=1) if hits.shape[1] \
            else torch.full_like(num_matches, no_rank)
        precision = torch.where(true_match, hits.double() / valid_rank.clamp(min=1).double(),
                                torch.zeros((), dtype=torch.float64, device=self.device))
        # One transfer per block, not per query.
        return tuple(t.cpu().numpy() for t in (num_matches, first_rank, last_rank, precision.sum(dim=1)))
