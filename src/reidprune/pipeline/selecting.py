"""From scores to decisions and files: purify + prune, then the exports."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.export.manifest import write_manifest
from reidprune.export.seed_lists import write_seed_lists
from reidprune.scores.entropy import soft_labels
from reidprune.scores.store import ScoreSet
from reidprune.select.prune import SelectionReport, select_with_report
from reidprune.select.purify import find_mislabeled, find_outliers, outlier_fraction_warning, outlier_threshold
from reidprune.select.selection import Selection


@dataclass(frozen=True)
class SelectOptions:
    """How to turn scores into a selection.

    Parameters
    ----------
    method: which scored method ranks the samples (``entropy`` = ours).
    fraction / count: how many samples to remove in total (outliers included); give one.
    purify: remove outliers and relabel mislabeled samples (needs the ``entropy`` method's
        soft labels; the paper's full pipeline).
    delta: outlier threshold on max(soft label) (paper: 0.10).
    delta_relative: read ``delta`` as a multiple of chance 1/C instead.
    min_per_identity: never prune an identity below this many images.
    class_balance: Sorscher et al.'s class-balancing ratio (paper: 0.5 for prototypes).
    max_outlier_fraction: refuse to go on when more than this share of the set is flagged as
        outliers (flat soft labels of an under-trained scoring model); 1.0 accepts anything.
    """

    method: str = "entropy"
    fraction: float | None = 0.3
    count: int | None = None
    purify: bool = True
    delta: float = 0.10
    delta_relative: bool = False
    min_per_identity: int = 0
    class_balance: float = 0.0
    max_outlier_fraction: float = 0.2
    seed: int = 0


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

    @property
    def selection(self) -> Selection:
        return self.report.selection


def decide(scores: ScoreSet, options: SelectOptions) -> Decision:
    """Apply the paper's order: outliers out, easiest pruned, mislabeled relabelled among the kept."""
    method = scores[options.method]
    n = len(scores.paths)
    nan = np.full(n, np.nan)
    entropy, max_score, predicted = nan, nan, np.full(n, -1)
    mislabeled, outliers = np.zeros(n, bool), np.zeros(n, bool)
    warnings: list[str] = []
    if "entropy" in scores.methods:
        ours = scores["entropy"]
        if "mean_logits" in ours.extras:
            mean = ours.extras["mean_logits"].astype(np.float64)
            recorded = np.isfinite(mean).all(1)  # unrecorded samples: no soft label, kept, never flagged
            soft = soft_labels(np.where(recorded[:, None], mean, 0.0))
            max_score = np.where(recorded, soft.max(1), np.nan)
            mislabeled, predicted = find_mislabeled(soft, scores.labels)
            outliers = find_outliers(soft, options.delta, options.delta_relative) & recorded
        else:  # the top-k recorder: max score and argmax were computed from its slots
            max_score = ours.extras["max_score"].astype(np.float64)
            recorded = np.isfinite(max_score)
            predicted = ours.extras["predicted"].astype(np.int64)
            mislabeled = predicted != scores.labels
            threshold = outlier_threshold(len(scores.classes), options.delta, options.delta_relative)
            outliers = recorded & (np.where(recorded, max_score, 1.0) <= threshold)
        entropy = np.where(recorded, ours.importance, np.nan)
        mislabeled &= recorded
        predicted = np.where(recorded, predicted, scores.labels)
        if not recorded.all():
            warnings.append(f"{int((~recorded).sum())} samples were never recorded in the accumulation window "
                            "(--every > 1); they are kept and not flagged")
    elif options.purify:
        raise ReidPruneError("purification needs our soft labels: score with --method entropy too, "
                             "or pass --no-purify")
    if options.purify:
        _check_outlier_fraction(outliers, options)
        if message := outlier_fraction_warning(outliers):
            warnings.append(message)
    report = select_with_report(
        method.importance, scores.labels, fraction=options.fraction, count=options.count,
        outliers=outliers if options.purify else None, predicted=predicted if options.purify else None,
        min_per_identity=options.min_per_identity, class_balance=options.class_balance, seed=options.seed)
    warnings += report.warnings()
    return Decision(report, entropy, max_score, predicted, mislabeled, outliers, warnings)


def _check_outlier_fraction(outliers: np.ndarray, options: SelectOptions) -> None:
    share = float(outliers.mean()) if len(outliers) else 0.0
    if share > options.max_outlier_fraction:
        how = f"max(soft label) <= {options.delta:g}" + (" x 1/C" if options.delta_relative else "")
        raise ReidPruneError(
            f"{share:.0%} of the training set would be removed as outliers ({how}), more than the allowed "
            f"{options.max_outlier_fraction:.0%}: the scoring model's soft labels are flat (under-trained, e.g. "
            "from scratch). Give a lower --delta or --delta-chance K (K x chance), score with more epochs or "
            "--weights, or pass --max-outlier-fraction 1 to accept")


def export_decision(out_dir: str | Path, train: SampleTable, scores: ScoreSet, decision: Decision,
                    options: SelectOptions) -> dict[str, Path]:
    """Write the paper's three lists, the CSV manifest and a JSON summary into ``out_dir``."""
    out_dir = Path(out_dir)
    method = scores[options.method]
    predicted_ids = np.where(decision.predicted >= 0, train.classes[np.maximum(decision.predicted, 0)], -1)
    flagged = decision.mislabeled if options.purify else np.zeros(len(train), bool)
    outliers = decision.outliers if options.purify else np.zeros(len(train), bool)
    files = write_seed_lists(out_dir / "lists", train.relative_paths(), method.importance, flagged,
                             predicted_ids, outliers)
    files["manifest"] = write_manifest(out_dir / "manifest.csv", train, decision.selection,
                                       decision.entropy, decision.max_score)
    summary = {
        "method": options.method, "options": asdict(options), "counts": decision.selection.counts(),
        "fraction_removed": decision.selection.fraction_removed, "warnings": decision.warnings,
        "dataset": str(train.root), "fingerprint": scores.fingerprint,
        "score_params": method.params, "score_cost": method.cost, "reidprune": __version__,
    }
    files["summary"] = out_dir / "selection.json"
    write_json(files["summary"], summary)
    return files
