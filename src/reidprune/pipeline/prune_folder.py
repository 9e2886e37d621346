"""``reidprune prune``: purify and prune a dataset folder with saved scores, and write the results.

The lists, manifest and summary (:func:`~reidprune.pipeline.selecting.export_decision`) and,
with ``materialize``, a pruned, label-corrected copy of the dataset.
"""
from __future__ import annotations

from pathlib import Path

from reidprune.data.layouts import load_counted
from reidprune.data.table import SampleTable
from reidprune.validation.paths import check_materialize_target, output_lock
from reidprune.pipeline.checks import check_removal
from reidprune.pipeline.loading import align_to_scores
from reidprune.pipeline.options import Echo, ExportOptions, ReadOptions, SelectOptions
from reidprune.pipeline.selecting import Decision, decide, export_decision
from reidprune.scores.store import ScoreSet


def prune_folder(data: str | Path, scores_path: str | Path, out: str | Path, select: SelectOptions,
                 export: ExportOptions, read: ReadOptions, *, echo: Echo) -> Decision:
    """Purify and prune ``data`` with the scores in ``scores_path``; writes into ``out`` (locked).

    Parameters
    ----------
    data: the dataset folder the scores were computed on.
    scores_path: ``scores.npz`` written by ``reidprune score``.
    out: the output folder.
    select, export: how to select and what to write (see :func:`prune_scored`).
    read: how the dataset is read (its layout).
    echo: prints results and notes.
    """
    table, skipped = load_counted(data, read.layout)
    check_materialize_target(export.materialize, table.root, out)
    scores = ScoreSet.load(scores_path)
    train = align_to_scores(table.split_table("train"), scores)
    scores.check_matches(train, scores_path)
    at_scoring = scores.info.get("skipped_files")  # unreadable images skipped when scoring
    skipped = {**(at_scoring if isinstance(at_scoring, dict) else {}), **{k: v for k, v in skipped.items() if v}}
    with output_lock(out):
        return prune_scored(table, train, scores, out, select, export, echo=echo, skipped=skipped)


def prune_scored(table: SampleTable, train: SampleTable, scores: ScoreSet, out: str | Path, select: SelectOptions,
                 export: ExportOptions = ExportOptions(), *, echo: Echo, skipped: dict | None = None) -> Decision:
    """Decide and export: the lists, manifest and summary in ``out`` (its lock held by the caller).

    Parameters
    ----------
    table: the whole dataset (query / gallery lists, the materialized copy).
    train: the training rows the scores cover, in their order.
    scores: the scores.
    out: the output folder.
    select: how to select (its ``method`` ranks the images).
    export: what to write besides the lists, manifest and summary (a materialized copy).
    echo: prints results and notes.
    skipped: files left out of the scores, by reason (recorded in the summary).
    """
    check_removal(len(train), select.fraction, select.count)
    check_materialize_target(export.materialize, table.root, out)
    decision = decide(scores, select)
    for message in decision.warnings:
        echo(f"warning: {message}", err=True)
    for message in decision.notes:
        echo(message, err=True)
    files = export_decision(out, train, scores, decision, select, eval_table=table,
                            notes={"skipped_files": skipped or {}}, materialize=export.materialize or None,
                            link=export.link)
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
