"""The paper's full selection: remove outliers, prune the easiest samples, relabel the kept.

Order (Yang et al., TMLR 2024, App. A.6):

1. remove every outlier;
2. prune the easiest (lowest-importance) remaining samples until ``fraction`` of the
   ORIGINAL training set, or ``count`` samples, is removed in total; outliers count
   towards that total. If the outliers alone exceed it, all of them are still removed
   and nothing else is pruned (:class:`SelectionReport` records it so a caller can warn);
3. relabel the mislabeled samples among those kept to their predicted label.

Sec. 5.5 of the paper lists relabelling before pruning. With entropy as importance the two
orders prune the same samples (entropy does not depend on the assigned label), and the
per-identity floors below are counted on the corrected labels, as after Sec. 5.5's order.

Ties in importance are broken by index: among equal scores the LOWER index is pruned
first (a stable sort), so the result is deterministic.

Two optional floors protect small classes; both are counted per class on the labels the
samples will train with (the predicted label when ``predicted`` is given, the assigned
label otherwise) among the non-outlier samples:

* ``min_per_identity=k``: never prune a class below ``k`` images; a class with fewer than
  ``k`` non-outlier images keeps them all. ReID batches sample K images per identity.
* ``class_balance=b``: Sorscher et al. (2022)'s class-balancing ratio (the paper uses 0.5
  for supervised prototypes). Our reading: a class with ``n_c`` non-outlier samples keeps at
  least ``ceil(b * n_c * (1 - f))`` of them, where ``f`` is the requested removal fraction
  (``count / N`` when a count is given), i.e. at least ``b`` times what random pruning
  would keep.

Other samples are pruned instead of protected ones, so the target is still met where
possible; where the floors make it impossible, every allowed sample is pruned and the
report's ``shortfall`` says how many are missing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.select.selection import KEPT, OUTLIER, PRUNED, RELABELLED, Selection
from reidprune.validation.arrays import as_bool_mask, as_labels, check_int, check_number

# ceil() of a product of floats such as 0.5 * 10 * (1 - 0.4) must not jump to the next
# integer because of rounding noise.
_CEIL_SLACK = 1e-9


@dataclass(frozen=True)
class SelectionReport:
    """A :class:`Selection` with the numbers a caller needs to warn about it.

    Attributes
    ----------
    selection:
        The per-sample decisions.
    target_removed:
        Samples the caller asked to remove: ``count``, or ``fraction * N`` rounded to the
        nearest integer (halves up).
    outliers:
        Samples removed as outliers.
    pruned:
        Easy samples pruned.
    relabelled:
        Kept samples whose label was corrected.
    outliers_exceed_target:
        True when the outliers alone are more than ``target_removed`` (all are removed
        anyway, and nothing is pruned).
    shortfall:
        Samples short of ``target_removed`` because ``min_per_identity`` /
        ``class_balance`` protected every remaining candidate; 0 when the target is met.
    """

    selection: Selection
    target_removed: int
    outliers: int
    pruned: int
    relabelled: int
    outliers_exceed_target: bool
    shortfall: int

    @property
    def removed(self) -> int:
        """Samples removed in total (outliers plus pruned)."""
        return self.outliers + self.pruned

    def warnings(self) -> list[str]:
        """One-line messages for the caller to show; empty when the target was met exactly."""
        messages = []
        if self.outliers_exceed_target:
            messages.append(
                f"{self.outliers} outliers alone exceed the {self.target_removed} samples to remove; "
                "all outliers were removed and no easy sample was pruned (lower --delta to remove fewer)")
        if self.shortfall:
            messages.append(
                f"only {self.removed} of {self.target_removed} samples could be removed: the per-identity "
                f"floors protect the rest ({self.shortfall} short); lower --min-per-id or --class-balance")
        return messages


def prune_order(importance: np.ndarray) -> np.ndarray:
    """Sample indices from the easiest (pruned first) to the hardest.

    Parameters
    ----------
    importance:
        ``(N,)`` finite scores, higher = more important = kept (e.g. entropy).

    Returns
    -------
    np.ndarray
        ``(N,)`` int64 indices sorted by ascending importance; ties keep index order, so
        the lower index is pruned first.
    """
    scores = _as_importance(importance)
    return np.argsort(scores, kind="stable").astype(np.int64)


def ranking_most_difficult_first(importance: np.ndarray) -> np.ndarray:
    """Sample indices from the most difficult to the easiest (the paper's ``Ranking_list``).

    Parameters
    ----------
    importance:
        ``(N,)`` finite scores, higher = more important = kept.

    Returns
    -------
    np.ndarray
        ``(N,)`` int64 indices: exactly :func:`prune_order` reversed, so dropping the last
        ``n`` entries removes the same samples as pruning ``n`` with :func:`select` (without
        outliers or floors). Among equal scores the higher index therefore comes first.
    """
    return prune_order(importance)[::-1].copy()


def select(importance: np.ndarray, labels: np.ndarray, fraction: float | None = None,
           count: int | None = None, outliers: np.ndarray | None = None,
           predicted: np.ndarray | None = None, min_per_identity: int = 0,
           class_balance: float = 0.0, seed: int = 0) -> Selection:
    """Decide, for every training sample, kept / relabelled / pruned / outlier.

    The same as :func:`select_with_report` (see it for every parameter) but returns only
    the :class:`Selection`. Use :func:`select_with_report` to learn whether the outliers
    exceeded the target or floors left a shortfall.
    """
    return select_with_report(importance, labels, fraction=fraction, count=count, outliers=outliers,
                              predicted=predicted, min_per_identity=min_per_identity,
                              class_balance=class_balance, seed=seed).selection


def select_with_report(importance: np.ndarray, labels: np.ndarray, fraction: float | None = None,
                       count: int | None = None, outliers: np.ndarray | None = None,
                       predicted: np.ndarray | None = None, min_per_identity: int = 0,
                       class_balance: float = 0.0, seed: int = 0) -> SelectionReport:
    """Run the paper's selection order and report what it did (see the module docstring).

    Parameters
    ----------
    importance:
        ``(N,)`` finite scores, higher = more important = kept; the lowest are pruned
        first, ties by lower index first.
    labels:
        ``(N,)`` assigned training labels (non-negative integers).
    fraction:
        Share of the ORIGINAL ``N`` samples to remove in total (outliers included), in
        ``[0, 1)``; the count is ``fraction * N`` rounded to the nearest integer, halves up.
        Give exactly one of ``fraction`` and ``count``.
    count:
        Number of samples to remove in total (outliers included), in ``[0, N]``.
    outliers:
        ``(N,)`` bool mask of outliers (e.g. :func:`reidprune.select.purify.find_outliers`);
        None means there are none.
    predicted:
        ``(N,)`` corrected label of every sample (e.g. the argmax returned by
        :func:`reidprune.select.purify.find_mislabeled`); kept samples whose ``predicted``
        differs from ``labels`` are relabelled. Pass ``np.where(flags, predicted, labels)``
        to correct only some. None means no relabelling.
    min_per_identity:
        Never prune a class below this many images (0: no floor); see the module docstring.
    class_balance:
        Sorscher et al.'s class-balancing ratio ``b`` in ``[0, 1]`` (0: off; paper: 0.5 for
        supervised prototypes); each class keeps at least ``ceil(b * n_c * (1 - f))``.
    seed:
        Accepted so callers can pass one seed to every selector; this selection is
        deterministic (ties broken by index) and does not draw random numbers.

    Returns
    -------
    SelectionReport
        The :class:`Selection` (``labels`` holds the corrected label for relabelled samples
        and the assigned label otherwise) and the counts behind it.
    """
    scores = _as_importance(importance)
    n = len(scores)
    per = "one per importance score"
    assigned = as_labels(labels, n, per=per)
    outlier_mask = np.zeros(n, dtype=bool) if outliers is None else as_bool_mask(outliers, n, "outliers")
    training = assigned if predicted is None else as_labels(predicted, n, name="predicted labels", per=per)
    target = _target_count(n, fraction, count)
    floor_k = check_int(min_per_identity, "min_per_identity", minimum=0)
    balance = check_number(class_balance, "class_balance", 0.0, 1.0, hint=" (paper: 0.5)")
    check_int(seed, "seed")

    removed_share = (fraction if fraction is not None else (target / n if n else 0.0))
    n_outliers = int(outlier_mask.sum())
    need = max(target - n_outliers, 0)
    candidates = _prunable_in_order(scores, training, outlier_mask, floor_k, balance, removed_share)
    pruned_idx = candidates[:need]

    status = np.full(n, KEPT, dtype="<U10")
    status[outlier_mask] = OUTLIER
    status[pruned_idx] = PRUNED
    corrected = (status == KEPT) & (training != assigned)
    status[corrected] = RELABELLED
    final_labels = np.where(corrected, training, assigned)

    selection = Selection(status=status, labels=final_labels, assigned=assigned.copy())
    return SelectionReport(selection=selection, target_removed=target, outliers=n_outliers,
                           pruned=len(pruned_idx), relabelled=int(corrected.sum()),
                           outliers_exceed_target=n_outliers > target,
                           shortfall=need - len(pruned_idx))


def class_floors(training_labels: np.ndarray, min_per_identity: int = 0,
                 class_balance: float = 0.0, removed_share: float = 0.0) -> np.ndarray:
    """How many samples each class must keep, from the pool of non-outlier samples.

    Parameters
    ----------
    training_labels:
        ``(M,)`` non-negative labels the pool's samples will train with.
    min_per_identity:
        Minimum images per class (capped at the class size).
    class_balance:
        Ratio ``b`` in ``[0, 1]``; a class of ``n_c`` keeps at least
        ``ceil(b * n_c * (1 - removed_share))``.
    removed_share:
        The requested removal fraction ``f`` in ``[0, 1]``.

    Returns
    -------
    np.ndarray
        int64 array indexed by label (length ``max(label) + 1``): the floor of each class,
        ``min(n_c, max(k, ceil(b * n_c * (1 - f))))``; 0 for labels absent from the pool.
    """
    sizes = np.bincount(np.asarray(training_labels, dtype=np.int64))
    balanced = np.ceil(class_balance * sizes * (1.0 - removed_share) - _CEIL_SLACK).astype(np.int64)
    return np.minimum(sizes, np.maximum(np.maximum(balanced, min_per_identity), 0))


def _prunable_in_order(scores: np.ndarray, training: np.ndarray, outlier_mask: np.ndarray,
                       floor_k: int, balance: float, removed_share: float) -> np.ndarray:
    """Non-outlier indices that may be pruned, easiest first, respecting the class floors.

    Within a class only its easiest ``n_c - floor_c`` samples are prunable, so taking the
    first entries of the result prunes the globally easiest samples the floors allow.
    """
    order = np.argsort(scores, kind="stable")
    pool = order[~outlier_mask[order]]
    if len(pool) == 0:
        return pool.astype(np.int64)
    classes = training[pool]
    sizes = np.bincount(classes)
    capacity = sizes - class_floors(classes, floor_k, balance, removed_share)
    rank_in_class = np.empty(len(pool), dtype=np.int64)
    by_class = np.argsort(classes, kind="stable")
    group_starts = np.cumsum(sizes) - sizes
    rank_in_class[by_class] = np.arange(len(pool)) - np.repeat(group_starts, sizes)
    return pool[rank_in_class < capacity[classes]].astype(np.int64)


def _target_count(n: int, fraction: float | None, count: int | None) -> int:
    if (fraction is None) == (count is None):
        raise ReidPruneError("give exactly one of fraction (share of samples to remove) and count "
                             f"(number to remove), got fraction={fraction!r} count={count!r}")
    if fraction is not None:
        fraction = check_number(fraction, "fraction to remove", 0.0, 1.0, max_open=True)
        return int(math.floor(fraction * n + 0.5))
    return check_int(count, "count to remove", 0, n)


def _as_importance(importance: np.ndarray) -> np.ndarray:
    try:
        scores = np.asarray(importance, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ReidPruneError(f"importance must be a 1-D numeric array: {exc}") from exc
    if scores.ndim != 1:
        raise ReidPruneError("importance must be a 1-D array (one score per sample), "
                             f"got shape {scores.shape}")
    if not np.isfinite(scores).all():
        bad = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise ReidPruneError(f"importance must be finite, sample {bad} is {scores[bad]}; "
                             "check the scoring run")
    return scores
