"""Data purification (Yang et al., TMLR 2024, Sec. 4): find outliers and mislabeled samples.

* Outlier: the highest class score of the soft label is at most ``delta``,
  ``max(p) <= delta`` (paper: delta = 0.10, robust between 0.05 and 0.15). Outliers are
  removed from the training set.
* Mislabeled: the soft label's argmax differs from the assigned label,
  ``argmax(p) != y``; such samples are relabelled to the argmax if they are kept.

The paper's absolute delta assumes an ImageNet-pretrained model. A model trained from
scratch gives flat soft labels, and delta = 0.10 flagged ~45% of a 743-identity dataset in
our measurements, so delta can also be given as a multiple of chance (``1/C``) and
:func:`outlier_fraction_warning` says when the flagged fraction is implausible.
"""
from __future__ import annotations

import numpy as np

from dataclasses import dataclass, field

from reidprune.errors import ReidPruneError
from reidprune.select.calibration import (PATTERN_WHY, bound_only, follows_pattern, repeated_pair_share,
                                          separates)
from reidprune.select.defaults import PAPER_DELTA, RELABEL_MODES
from reidprune.validation.arrays import as_bool_mask, as_labels, as_probabilities, check_int, check_number


def outlier_threshold(num_classes: int, delta: float = PAPER_DELTA,
                      relative_to_chance: bool = False) -> float:
    """The value ``max(soft label)`` is compared with to flag an outlier.

    Parameters
    ----------
    num_classes:
        ``C``, the number of training classes (columns of the soft labels).
    delta:
        With ``relative_to_chance=False`` (the paper's reading) an absolute probability
        in ``[0, 1)``; 0 flags nothing. With ``relative_to_chance=True`` a MULTIPLE of
        chance ``1/C``: ``delta=3`` flags samples whose highest score is at most three
        times the uniform score. It must then satisfy ``delta / C < 1``.
    relative_to_chance:
        Whether ``delta`` is a multiple of ``1/C`` rather than a probability.

    Returns
    -------
    float
        ``delta`` itself, or ``delta / C`` when relative to chance.
    """
    check_int(num_classes, "number of classes", minimum=1)
    check_number(delta, "outlier delta", minimum=0)
    threshold = float(delta) / num_classes if relative_to_chance else float(delta)
    if threshold >= 1.0:
        what = f"delta / C = {delta} / {num_classes}" if relative_to_chance else f"delta = {delta}"
        raise ReidPruneError(f"outlier threshold {what} is >= 1 and would flag every sample; "
                             "use an absolute delta below 1 (paper: 0.10) or a multiple of chance below C")
    return threshold


def find_outliers(soft_labels: np.ndarray, delta: float = PAPER_DELTA,
                  relative_to_chance: bool = False) -> np.ndarray:
    """Flag samples whose highest soft-label score is at most the outlier threshold.

    Parameters
    ----------
    soft_labels:
        ``(N, C)`` probabilities (rows summing to 1), e.g. from
        :func:`reidprune.scores.entropy.soft_labels`.
    delta:
        Absolute threshold (paper, Sec. 4: 0.10), or a multiple of chance ``1/C`` when
        ``relative_to_chance=True``; see :func:`outlier_threshold`.
    relative_to_chance:
        Read ``delta`` as a multiple of ``1/C``: the threshold is ``delta / C``.

    Returns
    -------
    np.ndarray
        ``(N,)`` bool mask, True for outliers (``max(p) <= threshold``, inclusive as in
        the paper).
    """
    probs = as_probabilities(soft_labels)
    threshold = outlier_threshold(probs.shape[1], delta, relative_to_chance)
    predicted = probs.argmax(axis=1)
    return purification_flags(predicted, probs.max(axis=1), predicted, threshold)[1]  # the one core


def outlier_fraction_warning(mask: np.ndarray, limit: float = 0.2) -> str | None:
    """A one-line warning when an implausibly large share of samples is flagged as outliers.

    Parameters
    ----------
    mask:
        ``(N,)`` bool outlier mask from :func:`find_outliers`.
    limit:
        Largest plausible outlier fraction, in ``[0, 1]``. The paper reports ~1% outliers
        on MSMT17; the default 0.2 leaves wide room.

    Returns
    -------
    str | None
        The message, or None when the flagged fraction is at most ``limit`` (or the mask is
        empty).
    """
    flags = as_bool_mask(mask, name="outlier mask")
    check_number(limit, "outlier fraction limit", 0.0, 1.0)
    if len(flags) == 0:
        return None
    fraction = float(flags.mean())
    if fraction <= limit:
        return None
    return (f"{int(flags.sum())} of {len(flags)} samples ({fraction:.1%}) are flagged as outliers, "
            f"more than the plausible {limit:.0%}: soft labels from a model trained from scratch are flat, "
            "so an absolute delta (paper: 0.10, for an ImageNet-pretrained model) removes much of the data; "
            "give delta relative to chance (e.g. 3 x 1/C) or lower it")


def find_mislabeled(soft_labels: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flag samples whose soft-label argmax differs from the assigned label.

    Parameters
    ----------
    soft_labels:
        ``(N, C)`` probabilities (rows summing to 1).
    labels:
        ``(N,)`` assigned training labels in ``0..C-1``.

    Returns
    -------
    mask : np.ndarray
        ``(N,)`` bool, True where ``argmax(p) != labels`` (ties go to the lowest class).
    predicted : np.ndarray
        ``(N,)`` int64 argmax of every soft label, the corrected label for flagged samples
        (and equal to ``labels`` elsewhere).
    """
    probs = as_probabilities(soft_labels)
    assigned = as_labels(labels, len(probs), probs.shape[1], per="one per soft label")
    predicted = probs.argmax(axis=1).astype(np.int64)
    return purification_flags(predicted, probs.max(axis=1), assigned, -np.inf)[0], predicted  # the one core


def check_outlier_share(outliers: np.ndarray, limit: float, threshold: float, pretrained: bool = False) -> None:
    """Refuse (a :class:`ReidPruneError` that names the ways out) when more than ``limit`` of the
    samples would be removed as outliers at ``threshold``: the soft labels are flat, not the data
    bad. ``pretrained``: the scoring run started from ImageNet weights (changes the advice)."""
    share = float(np.mean(outliers)) if len(outliers) else 0.0
    if share <= limit:
        return
    cause = ("stopped before it fitted the identities (few epochs, or few images per identity)" if pretrained
             else "under-trained (e.g. from scratch)")
    more = "score with more epochs (--epochs)" if pretrained else "score with more epochs or --weights"
    raise ReidPruneError(
        f"{share:.0%} of the training set would be removed as outliers (max(soft label) <= {threshold:g}), more than "
        f"the allowed {limit:.0%}: the scoring model's soft labels are flat ({cause}). Leave --delta unset to let the "
        f"scoring run's probes measure it (--stop probes), give a lower --delta or --delta-chance K (K x chance), "
        f"{more}, or pass --max-outlier-fraction 1 to accept")


def relabel_fraction_warning(relabelled: int, total: int, limit: float = 0.25) -> str | None:
    """A warning when purification relabels more than real datasets plausibly hold.

    Label noise in curated ReID sets is a few percent (the paper injects up to 50% only in
    controlled experiments); a much larger relabelled share means the scoring model did not
    learn the identities (too few epochs, from scratch), not that the data is that noisy.
    (Too many outliers are reported by :func:`outlier_fraction_warning`.)

    Parameters
    ----------
    relabelled: samples relabelled.
    total: training samples.
    limit: largest plausible relabelled share.
    """
    if total <= 0 or relabelled / total <= limit:
        return None
    return (f"{relabelled / total:.0%} of the training set ({relabelled} of {total}) was relabelled, far more "
            "than the label noise of real datasets (a few %): the scoring model is probably under-trained; "
            "score with more epochs (--epochs / --score-epochs) or --weights, or pass --no-purify to prune only")


def purification_flags(predicted: np.ndarray, max_score: np.ndarray, labels: np.ndarray, threshold: float,
                       judged: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The paper's purification on stored soft-label summaries: ``(mislabeled, outliers)`` masks.

    Parameters
    ----------
    predicted: ``(N,)`` argmax of each soft label.
    max_score: ``(N,)`` max of each soft label (NaN: never recorded).
    labels: ``(N,)`` the given labels.
    threshold: the absolute outlier threshold (:func:`outlier_threshold`).
    judged: ``(N,)`` bool, the samples that may be flagged at all (not the unrecorded ones nor the
        scoring run's probes); None = every recorded one.

    Returns
    -------
    mislabeled: judged samples whose argmax differs from their label.
    outliers: judged samples whose max score is at most ``threshold``.
    """
    scores = np.asarray(max_score, dtype=np.float64)
    recorded = np.isfinite(scores)
    judged = recorded if judged is None else as_bool_mask(judged, len(scores), name="judged mask") & recorded
    mislabeled = judged & (np.asarray(predicted) != np.asarray(labels))
    outliers = judged & (np.where(recorded, scores, np.inf) <= threshold)
    return mislabeled, outliers


NO_SEPARATION = ("nothing is relabelled, flagged or removed as an outlier: the known-wrong probes were flagged no "
                 "more often than the other images, so the scoring run cannot find wrong labels on this set (seen "
                 "with very few images per identity); prune only, or review by hand")
NO_RELABEL = ("relabelling is not expected to fix more labels than it breaks here ({why}): the flagged images "
              "keep their label and are listed for `reidprune review`; pass --relabel all to relabel anyway")
#: Why relabelling does not pay: the usual causes, and a set the probes find nearly clean.
NO_RELABEL_WHY = "estimated precision x correction too low, typical of few images per identity, or fewer than 100 " \
                 "probes to tell"
NEARLY_CLEAN_WHY = "the probes find the set nearly clean (noise rate ~{rate:.1%}, at most {upper:.1%}), so most of " \
                   "the flagged images are likely right"
BOUND_ONLY_WHY = "the random-identity probes find no wrong label like them, and the look-alike probes only " \
                 "bound the rest (at most {upper:.1%}), which a clean set would show too"
#: Below this estimated noise rate a set is called nearly clean in that message (wording only; real sets
#: hold a few % of wrong labels).
NEARLY_CLEAN = 0.01
STRUCTURED = ("{share:.0%} of the flagged images fall in repeated (given -> proposed) identity pairs: the wrong "
              "labels follow a pattern (look-alike identities confused, or merged), which the probes (isolated "
              "wrong labels) do not mimic, {judged}; review those pairs by hand (`reidprune review`)")
STRUCTURED_JUDGED = "so the window and the estimates come from the look-alike probes alone, and may still be optimistic"
STRUCTURED_UNJUDGED = "so precision and recall are likely lower than estimated"
LOOK_ALIKES_MISSED = ("errors between look-alike identities are not found here: the probes given a similar "
                      "identity's label are flagged about as often as the other images, so the flags are mostly "
                      "random label errors; check look-alikes by hand")


@dataclass
class Purification:
    """What purification decided: the flags, whether the flagged are relabelled, and why (lines)."""

    mislabeled: np.ndarray
    outliers: np.ndarray
    relabel: bool
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def purify(predicted: np.ndarray, max_score: np.ndarray, labels: np.ndarray, threshold: float,
           quality: dict | None = None, judged: np.ndarray | None = None, relabel: str = "auto",
           delta_given: bool = False) -> Purification:
    """The purification decision: the paper's flags, held back where the probes say they do harm.

    Parameters
    ----------
    predicted, max_score, labels, threshold, judged: as :func:`purification_flags` (``judged``
        excludes the scoring run's probes: their label was wrong on purpose).
    quality: the probes' estimates (:func:`reidprune.select.calibration.estimate`'s, as a dict with
        ``separation``, ``separation_similar``, ``relabel_pays``, ...), None without probes.
    relabel: ``"auto"`` relabels only when ``quality`` says it pays, ``"all"`` always (the paper),
        ``"none"`` never.
    delta_given: the threshold was chosen by the user (kept even where nothing can be told apart).

    Returns
    -------
    :class:`Purification`. Where the probes are flagged no more often than the other images
    (:func:`~reidprune.select.calibration.separates`), nothing is flagged or relabelled and no
    outlier removed (unless ``delta_given``), with one warning. A warning also says when most
    flags fall in repeated identity pairs (:func:`~reidprune.select.calibration.repeated_pair_share`):
    the estimates are then optimistic.
    """
    if relabel not in RELABEL_MODES:
        raise ReidPruneError(f"relabel must be one of {', '.join(RELABEL_MODES)}, got {relabel!r}")
    mislabeled, outliers = purification_flags(predicted, max_score, labels, threshold, judged=judged)
    done = Purification(mislabeled, outliers, relabel != "none")
    if quality is None:
        return done
    if not separates(quality.get("separation", 0.0)):
        others = max(1, len(mislabeled) - quality["probes"])
        done.notes.append(f"the {quality['probes']} probes show the soft labels do not tell wrong labels from right "
                          f"ones here: they are flagged about as often as the other images ({quality['recall']:.0%} "
                          f"against {quality['flagged'] / others:.0%})")
        done.warnings.append(NO_SEPARATION)
        done.mislabeled = np.zeros_like(mislabeled)
        if not delta_given:
            done.outliers = np.zeros_like(outliers)
        done.relabel = False
        return done
    done.notes.append(quality_line(quality, int(mislabeled.sum())))
    share, repeated = repeated_pair_share(labels, predicted, mislabeled)
    if follows_pattern(share, repeated):
        judged = STRUCTURED_JUDGED if quality.get("judged_by") == "similar" else STRUCTURED_UNJUDGED
        done.warnings.append(STRUCTURED.format(share=share, judged=judged))
    if not separates(quality.get("separation_similar", quality.get("separation", 0.0))):
        done.warnings.append(LOOK_ALIKES_MISSED)
    if relabel == "auto" and not quality["relabel_pays"]:
        done.relabel = False
        rate = quality["noise_rate"]
        upper = quality.get("noise_rate_upper", rate)
        if bound_only(quality):
            why = BOUND_ONLY_WHY.format(upper=upper)
        else:
            why = NEARLY_CLEAN_WHY.format(rate=rate, upper=upper) if rate < NEARLY_CLEAN else NO_RELABEL_WHY
        done.warnings.append(NO_RELABEL.format(why=why))
    return done


def quality_line(quality: dict, flagged: int) -> str:
    """What the probes say about the decisions, in one line."""
    upper = quality.get("noise_rate_upper", quality["noise_rate"])
    kinds = "".join(f", {quality[k]:.0%} of {k[7:]} ones" for k in ("recall_random", "recall_similar")
                    if quality.get(k) is not None)  # None: no probes of that kind
    bound = f"at most {upper:.1%} if every error is between look-alike identities" \
        if quality.get("judged_by") != "similar" else \
        f"from the look-alike probes alone: {quality.get('judged_why') or PATTERN_WHY}"
    about = "at most " if bound_only(quality) else "~"
    return (f"estimated on {quality['probes']} probes (known wrong labels in the scoring run): noise rate "
            f"{about}{quality['noise_rate']:.1%} ({bound}); "
            f"of the {flagged} flagged as mislabeled {about}{quality['precision']:.0%} are "
            f"wrong (precision); ~{quality['recall']:.0%} of the wrong labels are flagged (recall{kinds}); "
            f"~{quality['correction']:.0%} of the proposed labels are right; outlier threshold "
            f"{quality['delta']:.4g} (at most ~1% of ordinary images fall below it)")
