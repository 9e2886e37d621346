"""From scores to decisions and files: purify + prune, then the exports."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.export.id_lists import write_id_lists
from reidprune.export.manifest import write_manifest
from reidprune.export.materialize import materialize as write_copy
from reidprune.export.seed_lists import write_seed_lists
from reidprune.pipeline.options import SelectOptions
from reidprune.scores.entropy import soft_label_statistics
from reidprune.scores.store import MethodScores, ScoreSet
from reidprune.select.decisions import apply_reviews, read_reviews
from reidprune.select.defaults import PAPER_DELTA
from reidprune.select.outlook import REDUNDANT_STRATEGY, outlook
from reidprune.select.prune import SelectionReport, select_with_report
from reidprune.select.purify import (check_outlier_share, outlier_fraction_warning, outlier_threshold, purify,
                                     relabel_fraction_warning)
from reidprune.select.selection import Selection
from reidprune.select.strategies import prune_order, redundancy_features


@dataclass
class Decision:
    """A selection with the soft-label quantities it was made from (NaN when not available)."""

    report: SelectionReport
    entropy: np.ndarray
    max_score: np.ndarray
    predicted: np.ndarray  # predicted training label (argmax of the soft label), -1 if unknown
    mislabeled: np.ndarray  # flagged as mislabeled (kept or not)
    outliers: np.ndarray
    warnings: list[str]
    notes: list[str] = field(default_factory=list)  # what was done besides selection (review decisions)
    threshold: float | None = None  # the outlier threshold applied (absolute), None without soft labels
    quality: dict | None = None  # the probes' estimates (select.calibration), None without probes

    @property
    def selection(self) -> Selection:
        return self.report.selection


def decide(scores: ScoreSet, options: SelectOptions) -> Decision:
    """Apply the paper's order: outliers out, easiest pruned, mislabeled relabelled among the kept.

    The scoring run's probes (``--stop probes``) are never flagged (their label was wrong on
    purpose and is restored); their estimates set the default outlier threshold and whether
    relabelling pays (:class:`SelectOptions`' ``delta`` and ``relabel``).
    """
    method = scores[options.method]
    n = len(scores.paths)
    nan = np.full(n, np.nan)
    entropy, max_score, predicted = nan, nan, np.full(n, -1)
    mislabeled, outliers = np.zeros(n, bool), np.zeros(n, bool)
    warnings: list[str] = []
    notes: list[str] = []
    threshold = quality = None
    relabel = options.purify and options.relabel != "none"
    source = _soft_label_source(scores, options.method)
    if source is not None:  # unrecorded samples: no soft label, kept, never flagged
        ours = scores[source]
        recorded, predicted, max_score = _soft_label_extras(ours, scores.labels)
        entropy = np.where(recorded, ours.importance, np.nan)
        quality = calibration_of(scores, source)
        delta, relative = _delta(options, scores, quality)
        threshold = outlier_threshold(_num_classes(ours, scores), delta, relative)
        done = purify(predicted, np.where(recorded, max_score, np.nan), scores.labels, threshold,
                      quality=quality if options.purify else None, judged=~_probes(scores, source),
                      relabel=options.relabel, delta_given=options.delta is not None)
        mislabeled, outliers, relabel = done.mislabeled, done.outliers, options.purify and done.relabel
        if not recorded.all():
            warnings.append(unrecorded_message(int((~recorded).sum()), ours.params))
        warnings += done.warnings
        notes += done.notes
    elif options.purify:
        raise ReidPruneError("purification needs our soft labels: score with --method entropy too, "
                             "or pass --no-purify")
    if options.purify:
        train = scores.info.get("options", {}).get("train", {})
        check_outlier_share(outliers, options.max_outlier_fraction, threshold,
                            bool(train.get("pretrained") or train.get("weights")))
        if message := outlier_fraction_warning(outliers):
            warnings.append(message)
    if options.strategy == "auto":
        options, said = _auto_strategy(options, scores)
        notes += said
    report = select_with_report(
        _ranked(method.importance, options, scores), scores.labels, fraction=options.fraction, count=options.count,
        outliers=outliers if options.purify else None,
        predicted=np.where(mislabeled, predicted, scores.labels) if relabel else None,
        min_per_identity=options.min_per_identity, class_balance=options.class_balance, seed=options.seed)
    warnings += report.warnings()
    if relabel and (message := relabel_fraction_warning(report.relabelled, n)):
        warnings.append(message)
    decision = Decision(report, entropy, max_score, predicted, mislabeled, outliers, warnings, notes=notes,
                        threshold=threshold, quality=quality)
    return apply_decisions(decision, scores, options.decisions) if options.decisions else decision


def _auto_strategy(options: SelectOptions, scores: ScoreSet) -> tuple[SelectOptions, list[str]]:
    """``--strategy auto``: the strategy for this set's images per identity, and the two lines saying why."""
    n = len(scores.paths)
    fraction = options.fraction if options.fraction is not None else (options.count or 0) / max(1, n)
    advice = outlook(n / max(1, len(np.unique(scores.labels))), fraction, REDUNDANT_STRATEGY)
    return replace(options, strategy=advice.strategy), [f"strategy {advice.strategy}: {advice.why}",
                                                        f"what to expect: {advice.expect}"]


def _ranked(importance: np.ndarray, options: SelectOptions, scores: ScoreSet) -> np.ndarray:
    """The importance the selection prunes by (lowest first), after the pruning strategy."""
    if options.strategy == "easy":
        return importance
    n = len(importance)
    count = options.count if options.count is not None else int(np.floor(options.fraction * n + 0.5))
    features = None
    if options.strategy == "redundancy":
        features = redundancy_features(scores[_soft_label_source(scores, options.method) or "entropy"].extras)
    return prune_order(importance, min(count, n), options.strategy, seed=options.seed, features=features,
                       groups=scores.labels)


def _probes(scores: ScoreSet, source: str) -> np.ndarray:
    probe = scores[source].extras.get("probe")
    return np.zeros(len(scores.paths), bool) if probe is None else probe.astype(bool)


def calibration_of(scores: ScoreSet, source: str = "entropy") -> dict | None:
    """The probes' estimates of the scoring run (``params["calibration"]``), or None."""
    for name in (source, "entropy"):
        if name in scores.methods and isinstance(scores[name].params.get("calibration"), dict):
            return scores[name].params["calibration"]
    return None


def _delta(options: SelectOptions, scores: ScoreSet, quality: dict | None) -> tuple[float, bool]:
    """``(delta, relative)``: the option given, else the probes' measure, else the scoring preset's."""
    if options.delta is not None:
        return options.delta, options.delta_relative
    if quality is not None:
        return float(quality["delta"]), False
    return float(scores.info.get("delta", PAPER_DELTA)), False


def apply_decisions(decision: Decision, scores: ScoreSet, path: str | Path) -> Decision:
    """The decision after a reviewer's decisions file (refused when made on another dataset)."""
    reviews = read_reviews(path, scores.fingerprint)
    done = apply_reviews(decision.selection, decision.outliers, decision.mislabeled, decision.predicted,
                         scores.paths, scores.classes, reviews)
    counts = done.selection.counts()
    report = replace(decision.report, selection=done.selection, outliers=counts["outlier"],
                     relabelled=counts["relabelled"])
    applied = ", ".join(f"{n} {name}" for name, n in done.counts.items() if n)
    note = f"applied {len(reviews)} review decisions from {path}" + (f" ({applied})" if applied else "")
    return Decision(report, decision.entropy, decision.max_score, done.predicted, done.mislabeled, done.outliers,
                    decision.warnings, notes=decision.notes + [note], threshold=decision.threshold,
                    quality=decision.quality)


def _soft_label_source(scores: ScoreSet, method: str) -> str | None:
    """Which scored method's soft labels purify: the ranking method's when it has them, else ours."""
    for name in (method, "entropy"):
        if name in scores.methods and ({"soft_labels", "mean_logits"} & set(scores[name].extras)
                                       or {"predicted", "max_score"} <= set(scores[name].extras)):
            return name
    return None


def _num_classes(method: MethodScores, scores: ScoreSet) -> int:
    for key in ("soft_labels", "mean_logits"):
        if key in method.extras:
            return method.extras[key].shape[1]
    return len(scores.classes)  # the top-k recorder keeps no full rows


def _soft_label_extras(ours: MethodScores, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(recorded, predicted, max_score)`` as the scoring run stored them; score files written
    before those extras existed get them computed from the stored mean logits."""
    if "predicted" in ours.extras and "max_score" in ours.extras:
        max_score = ours.extras["max_score"].astype(np.float64)
        recorded = np.isfinite(max_score)
        return recorded, np.where(recorded, ours.extras["predicted"], labels).astype(np.int64), max_score
    recorded, _, predicted, max_score = soft_label_statistics(ours.extras["mean_logits"].astype(np.float64), labels)
    return recorded, predicted, max_score


def unrecorded_message(missing: int, params: dict) -> str:
    """Why ``missing`` samples have no soft label, from the entropy method's parameters."""
    every, window = int(params.get("every", 1)), params.get("score_epochs", "T")
    why = (f"the P x K identity sampler never drew them in the {window}-epoch accumulation window "
           "(an epoch draws K images per identity per batch and covers about one pass, not every image)")
    if every > 1:
        why += f", and --every {every} recorded only every {every}-th epoch"
    return (f"{missing} samples were never recorded: {why}; they are kept and not flagged. Score with more "
            "epochs (--score-epochs / --epochs)" + (" or a smaller --every" if every > 1 else "") + " to cover them")


def export_decision(out_dir: str | Path, train: SampleTable, scores: ScoreSet, decision: Decision,
                    options: SelectOptions, eval_table: SampleTable | None = None,
                    notes: dict | None = None, materialize: str | Path | None = None,
                    link: str = "hardlink") -> dict[str, Path]:
    """Write the paper's three lists, ``path pid camid`` lists, the CSV manifest and a JSON summary.

    ``eval_table`` (the whole dataset table) adds query / gallery lists beside ``lists/train.txt``
    (see :mod:`reidprune.export.id_lists`).
    ``notes``: extra entries for the summary (e.g. ``skipped_files``: files left out, by reason).
    ``materialize``: also write a pruned, label-corrected copy of ``eval_table``'s dataset to this
    new folder, placing images by ``link`` (see :func:`reidprune.export.materialize.materialize`);
    its :class:`~reidprune.export.copy_result.MaterializeResult` (path-like) is ``files["materialized"]``.
    """
    if materialize is not None and eval_table is None:
        raise ReidPruneError("materialize needs eval_table, the whole dataset the copy is made of")
    out_dir = Path(out_dir)
    method = scores[options.method]
    predicted_ids = np.where(decision.predicted >= 0, train.classes[np.maximum(decision.predicted, 0)], -1)
    flagged = decision.mislabeled if options.purify else np.zeros(len(train), bool)
    outliers = decision.outliers if options.purify else np.zeros(len(train), bool)
    files = write_seed_lists(out_dir / "lists", train.relative_paths(), method.importance, flagged,
                             predicted_ids, outliers)
    files.update(write_id_lists(out_dir / "lists", train, decision.selection, eval_table))
    files["manifest"] = write_manifest(out_dir / "manifest.csv", train, decision.selection,
                                       decision.entropy, decision.max_score)
    summary = {
        "method": options.method, "options": asdict(options), "counts": decision.selection.counts(),
        "fraction_removed": decision.selection.fraction_removed, "warnings": decision.warnings,
        "notes": decision.notes, "outlier_threshold": decision.threshold,
        "quality": {k: v for k, v in decision.quality.items() if k != "history"} if decision.quality else None,
        "dataset": str(train.root), "fingerprint": scores.fingerprint,
        "score_params": method.params, "score_cost": method.cost, "reidprune": __version__,
        **(notes or {}),
    }
    files["summary"] = out_dir / "selection.json"
    write_json(files["summary"], summary)
    if materialize is not None:
        files["materialized"] = write_copy(eval_table, decision.selection, materialize, link=link,
                                           entropy=decision.entropy, max_score=decision.max_score)
    return files
