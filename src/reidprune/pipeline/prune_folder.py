"""``reidprune prune``: purify and prune a dataset folder with saved scores, and write the results.

The lists, manifest and summary (:func:`~reidprune.pipeline.selecting.export_decision`) and,
with ``materialize``, a pruned, label-corrected copy of the dataset.
"""
from __future__ import annotations

from pathlib import Path

from reidprune.data.layouts import load_counted
from reidprune.data.table import SampleTable
from reidprune.pipeline.checks import check_materialize_target, check_removal, output_lock
from reidprune.pipeline.loading import align_to_scores
from reidprune.pipeline.options import Echo, SelectOptions, removal_fraction
from reidprune.pipeline.selecting import Decision, decide, export_decision
from reidprune.scores.store import ScoreSet


def prune_folder(data: str | Path, scores_path: str | Path, out: str | Path, *, echo: Echo,
                 method: str = SelectOptions.method, layout: str = "auto", **selection) -> Decision:
    """Purify and prune ``data`` with the scores in ``scores_path``; writes into ``out`` (locked).

    Parameters
    ----------
    data: the dataset folder the scores were computed on.
    scores_path: ``scores.npz`` written by ``reidprune score``.
    out: the output folder.
    echo: prints results and notes.
    method: the scored method that ranks the images.
    layout: the dataset layout, ``"auto"`` to detect it.
    selection: :func:`prune_scored`'s selection and export options.
    """
    table, skipped = load_counted(data, layout)
    check_materialize_target(selection.get("materialize"), table.root, out)
    scores = ScoreSet.load(scores_path)
    train = align_to_scores(table.split_table("train"), scores)
    scores.check_matches(train, scores_path)
    at_scoring = scores.info.get("skipped_files")  # unreadable images skipped when scoring
    skipped = {**(at_scoring if isinstance(at_scoring, dict) else {}), **{k: v for k, v in skipped.items() if v}}
    with output_lock(out):
        return prune_scored(table, train, scores, out, method, echo=echo, skipped=skipped, **selection)


def selection_options(method: str, scores: ScoreSet, fraction: float | None = None, count: int | None = None,
                      delta: float | None = None, delta_chance: float | None = None, **fields) -> SelectOptions:
    """The :class:`SelectOptions` of a prune / run command.

    Parameters
    ----------
    method: the ranking method.
    scores: the scores (unused; kept for the callers' signature).
    fraction, count: how much to remove (at most one; neither = SelectOptions' fraction).
    delta: outlier threshold on max(soft label); None = the probes' measure, else the scoring preset's.
    delta_chance: threshold as K x chance (K / C); overrides ``delta``.
    fields: the other SelectOptions fields (``purify``, ``max_outlier_fraction``,
        ``min_per_identity``, ``class_balance``, ``decisions``).
    """
    return SelectOptions(method=method, fraction=removal_fraction(fraction, count), count=count,
                         delta=delta_chance if delta_chance is not None else delta,
                         delta_relative=delta_chance is not None, **fields)


def prune_scored(table: SampleTable, train: SampleTable, scores: ScoreSet, out: str | Path, method: str, *,
                 echo: Echo, skipped: dict | None = None, materialize: str | Path | None = None,
                 link: str = "hardlink", **selection) -> Decision:
    """Decide and export: the lists, manifest and summary in ``out`` (its lock held by the caller).

    Parameters
    ----------
    table: the whole dataset (query / gallery lists, the materialized copy).
    train: the training rows the scores cover, in their order.
    scores: the scores.
    out: the output folder.
    method: the ranking method.
    echo: prints results and notes.
    skipped: files left out of the scores, by reason (recorded in the summary).
    materialize: also write a pruned, corrected copy of the dataset to this new folder.
    link: how the copy places images (``hardlink``, ``copy``, ``symlink``).
    selection: :func:`selection_options`' arguments.
    """
    options = selection_options(method, scores, **selection)
    check_removal(len(train), options.fraction, options.count)
    check_materialize_target(materialize, table.root, out)
    decision = decide(scores, options)
    for message in decision.warnings:
        echo(f"warning: {message}", err=True)
    for message in decision.notes:
        echo(message, err=True)
    files = export_decision(out, train, scores, decision, options, eval_table=table,
                            notes={"skipped_files": skipped or {}}, materialize=materialize or None, link=link)
    counts = decision.selection.counts()
    echo(f"{len(train)} training images: kept {counts['kept']}, relabelled {counts['relabelled']}, "
         f"pruned {counts['pruned']}, outliers {counts['outlier']} "
         f"({100 * decision.selection.fraction_removed:.1f}% removed)")
    if "materialized" in files:
        copy = files["materialized"]
        echo(f"pruned dataset ({copy.layout} layout) written to {copy.path}: {copy.written} training images, "
             f"{copy.renamed} renamed with their corrected id, {copy.eval_files} query/gallery files"
             + (f", {copy.fallback_copies} copied instead of linked" if copy.fallback_copies else ""))
    for name, path in files.items():
        echo(f"  {name}: {path}")
    return decision
