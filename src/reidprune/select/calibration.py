"""Calibration on known-noise probes: how good the soft labels' decisions are on THIS data.

A scoring run gives a few samples (the probes, :func:`reidprune.data.noise.choose_probes`) a
known wrong label. Their fate measures what no constant can: how many wrong labels the soft
labels find on this set, with this recipe, at each epoch, and how often the argmax is the
right correction. From the probes and the other samples' soft labels this module estimates,
as plain functions of arrays:

* **recall**: the share of probes whose soft-label argmax leaves their wrong label (real wrong
  labels are assumed to be found as often as the probes, half of which are drawn at random and
  half from the most similar identity);
* **noise rate** rho: an upper bound from mixture-proportion estimation (Scott et al. 2013;
  Blanchard et al. 2016). With ``s`` the soft label's probability of the given label, the
  other samples mix clean and wrong labels, ``P_mix = (1 - rho) P_clean + rho P_wrong``, and the
  probes sample ``P_wrong``; for any set ``A = {s <= t}``, ``rho <= P_mix(A) / P_wrong(A)``,
  tight where clean samples rarely fall (low ``s``). The bound is the smallest ratio over the
  sets that hold at least :data:`SET_PROBES` probes (fewer would make the ratio a coin toss), and
  over the epochs seen (each epoch's soft labels give a valid bound; the model fits the clean
  samples first, so later epochs separate better);
* **precision**: ``rho * N * recall / flagged`` (flagged = other samples whose argmax differs
  from their label), shown clipped to 1; **F1** is ``2 TP / (flagged + wrong)`` =
  ``2 recall rho N / (flagged + rho N)``, which ranks windows without the clipping (an upper bound
  on rho that makes every window look perfectly precise would otherwise favour the earliest);
* **correction**: the share of found probes whose argmax is their given label, divided by the
  share of right given labels (``1 - rho``: a probe whose given label was already wrong cannot
  be corrected back to it);
* the **outlier threshold**: probes are ordinary in-distribution images under a wrong label,
  so their soft labels are no sharper than a clean image's; at most ``share`` of in-distribution
  images fall below the ``share`` quantile of the probes' max score (:func:`probe_delta`).

Every number is measured on the data; the fixed choices (the percentiles, the quantile
``share`` = 1%) are statements of what is asked, not values fitted to a dataset.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import as_bool_mask, as_labels, as_probabilities, check_int, check_number

#: the fewest probes a set {s <= t} of the noise-rate bound holds (a share of 20 is known to about +/-0.1)
SET_PROBES = 20
#: fewer probes estimate a share only to +/-0.18 (95%): the calibrated stop needs at least these
MIN_PROBES = 30
#: the share of in-distribution images the outlier threshold may cut (issue: under 2%)
OUTLIER_SHARE = 0.01


@dataclass(frozen=True)
class ProbeEstimate:
    """What the probes say about one soft-label matrix (one window of epochs).

    Attributes
    ----------
    epoch: the last epoch of the window (0 when not from a run).
    probes: number of probes.
    recall: estimated share of wrong labels flagged (the probes' share).
    correction: share of flagged probes whose argmax is their true label.
    noise_rate: estimated share of wrong labels among the other samples (an upper bound).
    flagged: other samples whose argmax differs from their label.
    precision: estimated share of those that are wrong.
    f1: 2 P R / (P + R).
    noise_rate_upper: the bound from the similar-identity probes alone, which holds whenever real
        errors are no harder to find than those (``noise_rate`` assumes them half random, half
        similar, as the probes are, and can fall below the truth when they are all similar).
    separation: how many standard errors the probes' flag rate exceeds the others' (a detector that
        cannot tell wrong labels from right ones flags both alike: about 0).
    separation_similar: the same for the similar-identity probes alone (the hardest errors).
    recall_similar: the similar-identity probes' share flagged (None without them).
    repeated_share: the share of the other samples' flags in repeated (given -> proposed) pairs
        (:func:`repeated_pair_share`), and ``repeated`` their number: how structured the flags look.
    judged_by: ``"all"`` probes, or ``"similar"`` ones alone (:meth:`as_look_alike`).
    judged_why: why the similar ones alone (:data:`PATTERN_WHY` or :data:`NOT_RANDOM_WHY`; empty for all).
    """

    epoch: int
    probes: int
    recall: float
    correction: float
    noise_rate: float
    flagged: int
    precision: float
    f1: float
    noise_rate_upper: float = 1.0
    separation: float = 0.0
    separation_similar: float = 0.0
    recall_similar: float | None = None
    repeated_share: float = 0.0
    repeated: int = 0
    judged_by: str = "all"
    judged_why: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def follows_pattern(self) -> bool:
        """Most flags, and enough of them to tell, fall in repeated identity pairs (:func:`follows_pattern`)."""
        return follows_pattern(self.repeated_share, self.repeated)

    def with_noise_rate(self, noise_rate: float, others: int) -> "ProbeEstimate":
        """The same window judged with another noise-rate estimate (``others`` non-probe samples)."""
        precision = precision_estimate(noise_rate, others, self.recall, self.flagged)
        return replace(self, noise_rate=noise_rate, precision=precision,
                       f1=f1_estimate(noise_rate, others, self.recall, self.flagged),
                       noise_rate_upper=max(noise_rate, self.noise_rate_upper))

    def as_look_alike(self, noise_rate: float, others: int, why: str = "") -> "ProbeEstimate":
        """The same window judged by the similar-identity probes alone, with their noise-rate bound
        ``noise_rate``: how to judge it when the real errors are not of the random kind (``why``:
        :data:`PATTERN_WHY`, the default, or :data:`NOT_RANDOM_WHY`).

        Errors between look-alike identities that repeat (A's images labelled B) are memorised
        sooner than isolated ones, since the model partly learns the pattern: the random-identity
        probes then stay flagged long after the real errors are fitted, and their noise-rate
        bound falls to 0. The similar-identity probes are the nearer kind. Unchanged without them.
        """
        if self.recall_similar is None:
            return self
        return replace(self, recall=self.recall_similar, separation=self.separation_similar,
                       judged_by="similar", judged_why=why or PATTERN_WHY).with_noise_rate(noise_rate, others)


def noise_rate_bound(given_prob: np.ndarray, probe_given_prob: np.ndarray, set_probes: int = SET_PROBES) -> float:
    """Upper bound on the share of wrong labels among samples, from probes with known wrong labels.

    Parameters
    ----------
    given_prob: ``(N,)`` soft-label probability of each (non-probe) sample's given label.
    probe_given_prob: ``(M,)`` the same for the probes, of the wrong label they trained with.
    set_probes: the fewest probes a set ``{s <= t}`` must hold (all of them when there are fewer).

    Returns
    -------
    float in [0, 1]: ``min_t P(s <= t) / P_probe(s <= t)`` over the thresholds ``t`` at the probes'
    own values from the ``set_probes``-th smallest up (1.0 with no probes).
    """
    mixed = np.sort(np.asarray(given_prob, dtype=np.float64))
    probes = np.sort(np.asarray(probe_given_prob, dtype=np.float64))
    if mixed.ndim != 1 or probes.ndim != 1:
        raise ReidPruneError("noise_rate_bound needs 1-D arrays of probabilities")
    if len(probes) == 0 or len(mixed) == 0:
        return 1.0
    first = min(max(1, set_probes), len(probes)) - 1
    thresholds = probes[first:]
    share_probes = np.searchsorted(probes, thresholds, side="right") / len(probes)
    share_mixed = np.searchsorted(mixed, thresholds, side="right") / len(mixed)
    return float(min(1.0, (share_mixed / share_probes).min()))


def precision_estimate(noise_rate: float, others: int, recall: float, flagged: int) -> float:
    """``noise_rate * others * recall / flagged``, clipped to [0, 1] (1.0 when nothing is flagged)."""
    if flagged <= 0:
        return 1.0
    return float(min(1.0, max(0.0, noise_rate * others * recall / flagged)))


def f1_estimate(noise_rate: float, others: int, recall: float, flagged: int) -> float:
    """``2 TP / (flagged + wrong)`` with ``TP = recall * wrong`` and ``wrong = noise_rate * others``."""
    wrong = noise_rate * others
    return 0.0 if flagged + wrong <= 0 else float(2 * recall * wrong / (flagged + wrong))


def f1_score(precision: float, recall: float) -> float:
    return 0.0 if precision + recall <= 0 else 2 * precision * recall / (precision + recall)


def estimate(soft: np.ndarray, trained_labels: np.ndarray, true_labels: np.ndarray, probes: np.ndarray,
             epoch: int = 0, similar: np.ndarray | None = None) -> ProbeEstimate:
    """Estimate the soft labels' mislabel detection quality from the probes.

    Parameters
    ----------
    soft: ``(N, C)`` soft labels (rows sum to 1).
    trained_labels: ``(N,)`` labels the model trained with (the probes' wrong labels).
    true_labels: ``(N,)`` the given labels (the probes' restored labels).
    probes: ``(N,)`` bool mask of the probes.
    epoch: recorded in the result.
    similar: ``(N,)`` bool, the probes given the most similar identity (the hardest kind). The
        noise-rate bound uses them alone when there are: it then holds whenever real errors are
        no harder to find than similar-identity ones, while random probes are so easy to find that
        their bound can fall below the truth (measured on pair-wise noise: 0 against 0.20).
    """
    soft = as_probabilities(soft)
    n, c = soft.shape
    trained = as_labels(trained_labels, n, c, name="trained labels")
    true = as_labels(true_labels, n, c, name="true labels")
    probes = as_bool_mask(probes, n, name="probe mask")
    if not probes.any():
        raise ReidPruneError("estimate needs at least one probe")
    argmax = soft.argmax(1)
    given = soft[np.arange(n), trained]
    left = argmax[probes] != trained[probes]
    recall = float(left.mean())
    correction = float((argmax[probes][left] == true[probes][left]).mean()) if left.any() else 0.0
    others = ~probes
    flagged = int((argmax[others] != trained[others]).sum())
    def bound(kind: np.ndarray) -> float:
        rho = noise_rate_bound(given[others], given[kind])
        found = argmax[kind] != trained[kind]
        if found.sum() >= min(SET_PROBES, len(found)):  # the flagged set: one more bound
            rho = min(rho, flagged / int(others.sum()) / float(found.mean()))
        return rho

    hardest = probes if similar is None or not (similar & probes).any() else (similar & probes)
    rho, rho_upper = bound(probes), bound(hardest)
    recall_similar = None if hardest is probes else float((argmax[hardest] != trained[hardest]).mean())
    share, repeated = repeated_pair_share(trained[others], argmax[others], argmax[others] != trained[others])
    flag_rate = flagged / int(others.sum())

    def separation(kind: np.ndarray) -> float:
        se = float(np.sqrt(max(flag_rate * (1 - flag_rate), 1e-12) / int(kind.sum())))
        return (float((argmax[kind] != trained[kind]).mean()) - flag_rate) / se
    precision = precision_estimate(rho, int(others.sum()), recall, flagged)
    correction = min(1.0, correction / max(1e-9, 1.0 - rho))
    return ProbeEstimate(epoch, int(probes.sum()), recall, correction, rho, flagged,
                         precision, f1_estimate(rho, int(others.sum()), recall, flagged),
                         max(rho, rho_upper), separation(probes), separation(hardest), recall_similar, share, repeated)


def probe_delta(probe_max_scores: np.ndarray, share: float = OUTLIER_SHARE) -> float:
    """The outlier threshold: the ``share`` quantile of the probes' max soft-label score.

    Probes are real images of real identities under a wrong label, so their soft labels are
    no sharper than a clean image's: at most about ``share`` of in-distribution images have a
    max score at or below it. Fewer than ``1 / share`` probes cannot place that quantile (their
    smallest score sits near the ``1 / (m + 1)`` quantile): then 0.0, no image is an outlier.
    """
    scores = np.asarray(probe_max_scores, dtype=np.float64)
    share = check_number(share, "outlier share", 0.0, 1.0)  # 1 / OUTLIER_SHARE = SUPPORT_PROBES
    if share <= 0:
        return 0.0
    scores = scores[np.isfinite(scores)]
    if len(scores) < math.ceil(1.0 / share - 1e-9):
        return 0.0
    return float(np.quantile(scores, share, method="lower"))


#: fewer probes leave the noise-rate bound too coarse to act on (its sets hold >= 20% of them, so
#: clean samples can fill them): below this the estimates are shown but nothing is relabelled
SUPPORT_PROBES = 100


def relabel_pays(precision: float, correction: float, probes: int = SUPPORT_PROBES, judged_why: str = "") -> bool:
    """Whether relabelling the flagged samples is expected to fix more labels than it breaks.

    A flagged sample is wrong with probability ``precision``; relabelling it then fixes it with
    probability ``correction``, and relabelling a right one breaks it: the expected gain per
    relabel is ``precision * correction - (1 - precision)``. The precision is an estimate from an
    upper bound on the noise rate: with fewer than :data:`SUPPORT_PROBES` probes that bound is too
    coarse to act on, and the answer is no. It is no as well for a window judged by the look-alike
    probes because the random ones found no error like them (``judged_why`` :data:`NOT_RANDOM_WHY`):
    the look-alike probes' bound then says how many wrong labels there can be, not that there are any
    (a clean set gives the same picture).
    """
    if judged_why == NOT_RANDOM_WHY:
        return False
    if probes < SUPPORT_PROBES:
        return False
    for name, value in (("precision", precision), ("correction", correction)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 1):
            raise ReidPruneError(f"{name} must be a share in [0, 1], got {value!r}")
    return precision * correction > 1.0 - precision


#: standard errors by which the probes' flag rate must exceed the others' (a one-sided 97.7% test)
SEPARATION_SE = 2.0


def separates(separation: float) -> bool:
    """Whether the soft labels tell wrong labels from right ones at all: the probes (known wrong) are
    flagged more often than the other images by more than :data:`SEPARATION_SE` standard errors.
    With 2 images per identity they are not: the best window flags nearly everything alike."""
    return separation > SEPARATION_SE


#: a (given label -> proposed label) pair "repeats" when at least this many flagged images share it
PAIR_REPEATS = 3


def repeated_pair_share(labels: np.ndarray, proposed: np.ndarray, flagged: np.ndarray,
                        repeats: int = PAIR_REPEATS) -> tuple[float, int]:
    """How structured the flagged errors look: the share of flagged images whose (given label,
    proposed label) pair is shared by at least ``repeats`` flagged images.

    The probes are isolated wrong labels; errors that follow a pattern (identity A's images often
    labelled B, e.g. two look-alike identities merged by an annotator, or pair-wise noise) are
    harder to find, because the model partly learns the pattern. Random errors spread over the
    identities and rarely repeat a pair. Measured on the regime grid (docs/results/regime_grid.md):
    0.77-0.81 under 20% pair-wise noise, at most 0.13 under symmetric noise.

    Parameters
    ----------
    labels: ``(N,)`` the given labels.
    proposed: ``(N,)`` the proposed labels (the soft labels' argmax).
    flagged: ``(N,)`` bool, the images flagged as mislabeled.
    repeats: the fewest flagged images a pair must hold to count.

    Returns
    -------
    (share, count): the share of flagged images in repeated pairs (0 with none flagged) and their number.
    """
    flagged = as_bool_mask(flagged, len(np.asarray(labels)), name="flagged mask")
    labels = as_labels(labels, len(flagged), name="labels")
    proposed = as_labels(proposed, len(flagged), name="proposed labels")
    if not flagged.any():
        return 0.0, 0
    pairs = np.stack([labels[flagged], proposed[flagged]], 1)
    _, inverse, counts = np.unique(pairs, axis=0, return_inverse=True, return_counts=True)
    repeated = int((counts[inverse.ravel()] >= check_int(repeats, "repeats", 2)).sum())
    return repeated / int(flagged.sum()), repeated


#: a pattern needs most flags in repeated pairs (share), and at least as many as a noise-rate set holds
PATTERN_SHARE = 0.5

#: why a window is judged by the similar-identity probes alone (:meth:`ProbeEstimate.as_look_alike`)
PATTERN_WHY = "the flags repeat identity pairs"
NOT_RANDOM_WHY = "no other image is as unlikely under its label as the random-identity probes"


def bound_only(quality: dict) -> bool:
    """Whether a run's estimates (``selection.json``'s calibration) are upper bounds only: its window was judged
    by the look-alike probes because the random ones found no error like them (:func:`not_random_kind`)."""
    return quality.get("judged_why") == NOT_RANDOM_WHY


def not_random_kind(noise_rate: float, separation_similar: float) -> bool:
    """Whether the set's wrong labels, if any, are not of the random kind, yet look-alike ones could be seen.

    A noise-rate bound of 0 from every probe (:func:`noise_rate_bound`) means that the probes with the
    lowest probability of their (wrong) label, the random-identity ones, sit where no other image
    does: no real error is like them. That holds on a clean set too; but where the similar-identity
    probes still separate from the other images (:func:`separates`), errors of their kind would be
    seen, and they are the ones to judge by (measured on CUHK03 with 20% look-alike noise, about 10
    images per identity: the random probes' bound is 0 from epoch 2, while a pair rarely repeats).
    On a set where they do not separate (4 images per identity, clean) nothing changes.
    """
    return noise_rate <= 0.0 and separates(separation_similar)


def follows_pattern(share: float, repeated: int) -> bool:
    """Whether flagged errors follow a pattern: most of them (:data:`PATTERN_SHARE`) fall in repeated
    (given -> proposed) pairs, and at least :data:`SET_PROBES` do, too many to be a handful of look-alikes."""
    return share >= PATTERN_SHARE and repeated >= SET_PROBES
