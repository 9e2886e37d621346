"""Confident learning (Northcutt et al., 2021) through the cleanlab library.

Label issues are found from OUT-OF-SAMPLE predicted probabilities: every sample's
probabilities must come from a model that did not train on it, i.e. K-fold cross-validation
(:func:`kfold_indices`), which costs K training runs. In-sample probabilities make every
label look right, because the model has memorised it. The suggested label of a flagged
sample is the argmax of its out-of-sample probabilities. This module does not produce an
importance score: it is the label-error peer of the paper's label correction.

cleanlab is optional: ``pip install reidprune[cleanlab]``.
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import as_labels, as_probabilities, check_int


def confident_learning_issues(labels: np.ndarray, pred_probs: np.ndarray,
                              **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Label issues by ``cleanlab.filter.find_label_issues`` and the suggested labels.

    Parameters
    ----------
    labels:
        int (N,): assigned labels in 0..C-1.
    pred_probs:
        float (N, C): OUT-OF-SAMPLE predicted probabilities (rows sum to 1), e.g. from K-fold
        cross-validation over :func:`kfold_indices`.
    **kwargs:
        Passed to ``cleanlab.filter.find_label_issues`` (e.g. ``filter_by``, ``n_jobs``);
        ``return_indices_ranked_by`` is not accepted because the result here is a mask.

    Returns
    -------
    issue_mask:
        bool (N,): True = label issue found.
    suggested_labels:
        int64 (N,): argmax of ``pred_probs`` (the label to correct to, for flagged samples).
    """
    pred_probs = as_probabilities(pred_probs, "pred_probs", min_columns=2)
    labels = as_labels(labels, len(pred_probs), pred_probs.shape[1], per="one per row of pred_probs")
    if kwargs.get("return_indices_ranked_by") is not None:
        raise ReidPruneError(
            "return_indices_ranked_by is not supported: confident_learning_issues returns a mask; "
            "rank the flagged samples yourself")
    try:
        from cleanlab.filter import find_label_issues
    except ImportError as error:
        raise ReidPruneError(
            "confident learning needs the cleanlab package: pip install reidprune[cleanlab]") from error
    issue_mask = np.asarray(find_label_issues(labels=labels, pred_probs=pred_probs, **kwargs), dtype=bool)
    return issue_mask, pred_probs.argmax(axis=1).astype(np.int64)


def kfold_indices(labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold split: every sample is held out exactly once.

    Each class's samples are shuffled and dealt to the folds round-robin, and the dealing
    continues from fold to fold across classes instead of restarting at fold 0. So a class
    with at least k samples is spread evenly (per-fold counts differ by at most one), and the
    many small classes of ReID data (fewer than k images) are spread round-robin, which keeps
    the folds' sizes within one of each other. A class held out entirely in one fold (a
    single image) has no training example there: its out-of-sample probabilities cannot
    support its label, so cleanlab will usually flag it.

    Parameters
    ----------
    labels:
        int (N,): assigned labels.
    k:
        Number of folds, 2 <= k <= N.
    seed:
        Seed of the shuffling.

    Returns
    -------
    list of (train_idx, holdout_idx)
        k pairs of sorted int64 index arrays; the holdouts partition 0..N-1 and each
        ``train_idx`` is the complement of its ``holdout_idx``.
    """
    labels = as_labels(labels)
    k = check_int(k, "k", minimum=2, maximum=len(labels))
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    next_fold = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold[members] = (next_fold + np.arange(len(members))) % k
        next_fold = (next_fold + len(members)) % k
    everything = np.arange(len(labels))
    return [(everything[fold != f], everything[fold == f]) for f in range(k)]
