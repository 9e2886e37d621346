"""Which samples to prune, given an importance score: the paper's rule and the strategies beyond it.

Every strategy is a pure function ``(importance, count, ...) -> keep-order`` that returns an
importance-like array: the selection prunes the ``count`` samples with the LOWEST returned value
(ties by index), so each plugs into :func:`reidprune.select.prune.select_with_report` unchanged.

* ``easy`` (the paper): prune the lowest importance (easiest) first;
* ``random``: ignore the score (a seeded permutation); purification still uses the soft labels.
  On sets with few images per identity random pruning was as good as any score (CUHK03);
* ``hard``: prune the highest first, the plain reverse (a diagnostic);
* ``window``: pruning-rate aware (as DUAL, ICML 2025, argues): at a low rate prune mostly easy
  samples, shifting toward the hard ones as the rate grows: of the ``f N`` pruned,
  ``f (1 - f) N`` are the easiest and ``f^2 N`` the hardest, so the kept set is the contiguous
  window of the difficulty ranking that starts at ``f (1 - f) N``;
* ``ccs``: coverage-centric selection (Zheng et al., ICLR 2023): prune the hardest ``beta`` share
  first (likely mislabeled), split the rest into ``bins`` equal-width score bins and spend the
  keep budget from the smallest bin up, drawing at random within a bin, so every level of
  difficulty stays covered;
* ``redundancy``: near-duplicates first (:func:`redundancy_order`): within each group (an identity,
  or an identity x camera), repeatedly prune the image most similar to another one still kept,
  never the last of a group. Needs features (the scoring run's mean logits or embeddings).
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import check_int, check_number

STRATEGIES = ("easy", "random", "hard", "window", "ccs", "redundancy")


def _check(importance, count: int) -> np.ndarray:
    values = np.asarray(importance, dtype=np.float64)
    if values.ndim != 1 or not np.isfinite(values).all():
        raise ReidPruneError("importance must be a 1-D array of finite numbers")
    check_int(count, "count", 0, len(values))
    return values


def _ranks(values: np.ndarray) -> np.ndarray:
    """0 = the lowest value; ties by index (stable), as the selection breaks them."""
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks


def prune_order(importance, count: int, strategy: str = "easy", *, beta: float = 0.0, bins: int = 50,
                seed: int = 0, features=None, groups=None) -> np.ndarray:
    """An array whose ``count`` lowest entries are the samples ``strategy`` prunes.

    Parameters
    ----------
    importance: ``(N,)`` finite scores, higher = harder / more important.
    count: how many samples will be pruned (the rate is ``count / N``).
    strategy: one of :data:`STRATEGIES` (see the module docstring).
    beta: ``ccs`` only: share of the set pruned hardest-first before the coverage draw.
    bins: ``ccs`` only: equal-width score bins.
    seed: ``ccs`` only: the draw within bins.
    features, groups: ``redundancy`` only: ``(N, D)`` features and ``(N,)`` group ids.

    Returns
    -------
    ``(N,)`` float64: prune the lowest ``count`` (ties by index).
    """
    values = _check(importance, count)
    if strategy not in STRATEGIES:
        raise ReidPruneError(f"unknown pruning strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    n = len(values)
    if strategy == "easy":
        return values
    if strategy == "random":
        return np.random.default_rng(seed).permutation(n).astype(np.float64)
    if strategy == "redundancy":
        if features is None or groups is None:
            raise ReidPruneError("the redundancy strategy needs features and groups (the scoring run's soft labels)")
        return redundancy_order(features, groups).astype(np.float64)
    ranks = _ranks(values).astype(np.float64)
    if strategy == "hard":
        return -ranks  # the hardest get the lowest value; equal values: the higher index first
    if strategy == "window":
        f = count / n if n else 0.0
        easy = int(round(f * (1.0 - f) * n))
        easy = min(easy, count)
        keep_from, keep_to = easy, easy + (n - count)  # the kept window of the easy -> hard ranking
        order = np.where(ranks < keep_from, ranks - n, np.where(ranks >= keep_to, ranks - keep_to - n + easy, ranks + n))
        # pruned first: the easiest (ranks < keep_from), then the hardest; the window last
        return order.astype(np.float64)
    return _ccs_order(values, ranks, count, beta, bins, seed)


def _ccs_order(values: np.ndarray, ranks: np.ndarray, count: int, beta: float, bins: int, seed: int) -> np.ndarray:
    n = len(values)
    check_number(beta, "beta", 0.0, 1.0)
    check_int(bins, "bins", 1)
    hardest = min(int(round(beta * n)), count)
    cut = ranks >= n - hardest  # pruned first, hardest first
    budget = n - count  # samples to keep
    rest = np.flatnonzero(~cut)
    keep = np.zeros(n, dtype=bool)
    if len(rest) and budget:
        low, high = values[rest].min(), values[rest].max()
        edges = np.linspace(low, high, bins + 1)
        which = np.clip(np.searchsorted(edges, values[rest], side="right") - 1, 0, bins - 1)
        members = [rest[which == b] for b in range(bins)]
        rng = np.random.default_rng(seed)
        left, open_bins = budget, sorted((m for m in members if len(m)), key=len)
        for i, group in enumerate(open_bins):
            share = left // (len(open_bins) - i)
            take = min(len(group), share)
            keep[rng.choice(group, size=take, replace=False)] = True
            left -= take
    order = np.empty(n, dtype=np.float64)
    order[cut] = -2.0 * n + (n - ranks[cut])  # hardest lowest
    dropped = ~cut & ~keep
    order[dropped] = -1.0 * n + ranks[dropped]
    order[keep] = ranks[keep]
    return order


def redundancy_features(extras: dict) -> np.ndarray:
    """What ``redundancy`` compares images by, from a scoring method's stored extras: its
    embeddings, else its mean logits (centred per row: logits are shift-free, so their shape is
    compared), else its soft labels. Unrecorded rows (NaN) become zeros."""
    features = extras.get("embeddings", extras.get("mean_logits", extras.get("soft_labels")))
    if features is None:
        raise ReidPruneError("--strategy redundancy needs our soft labels (score with --method entropy)")
    features = np.nan_to_num(np.asarray(features, dtype=np.float64))
    return features - features.mean(1, keepdims=True)


def redundancy_order(features, groups) -> np.ndarray:
    """Removal order by redundancy: ``(N,)`` ranks, 0 = pruned first; the last image of each group
    gets the highest ranks (pruned only when everything else is gone).

    Within a group, the image whose cosine similarity to its nearest remaining neighbour is the
    highest goes first (of a near-identical pair, the higher index); its neighbours' nearest
    similarities are then recomputed. Across groups, the most redundant image anywhere goes first.
    """
    import heapq

    feats = np.asarray(features, dtype=np.float64)
    groups = np.asarray(groups)
    if feats.ndim != 2 or len(feats) != len(groups) or not np.isfinite(feats).all():
        raise ReidPruneError(f"need finite (N, D) features for N={len(groups)} groups, got shape {feats.shape}")
    n = len(feats)
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    members = {g: np.flatnonzero(groups == g) for g in np.unique(groups)}
    alive = np.ones(n, dtype=bool)
    sims = {g: feats[m] @ feats[m].T for g, m in members.items()}
    heap: list[tuple[float, int, int]] = []
    version = np.zeros(n, dtype=np.int64)

    def push(g, local: int) -> None:
        m = members[g]
        row = np.where(alive[m], sims[g][local], -np.inf)
        row[local] = -np.inf
        best = row.max() if len(row) > 1 else -np.inf
        if np.isfinite(best):
            heapq.heappush(heap, (-best, -int(m[local]), int(version[m[local]])))

    for g, m in members.items():
        for local in range(len(m)):
            push(g, local)
    order = np.full(n, -1, dtype=np.int64)
    rank = 0
    position = {int(i): (g, k) for g, m in members.items() for k, i in enumerate(m)}
    while heap:
        _, neg_i, stamp = heapq.heappop(heap)
        i = -neg_i
        if not alive[i] or stamp != version[i]:
            continue
        g, local = position[i]
        if alive[members[g]].sum() <= 1:
            continue
        alive[i] = False
        order[i] = rank
        rank += 1
        for k, j in enumerate(members[g]):  # their nearest neighbour may have been i
            if alive[j]:
                version[j] += 1
                push(g, k)
    last = np.flatnonzero(order < 0)  # one per group: kept to the end, in index order
    order[last] = rank + np.arange(len(last))
    return order
