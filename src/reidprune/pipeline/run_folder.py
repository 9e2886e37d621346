"""``reidprune run``: score a dataset folder with our method, then purify + prune + export, in one go."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from reidprune.errors import ReidPruneError
from reidprune.pipeline.checks import check_selection_setup
from reidprune.validation.paths import output_lock
from reidprune.pipeline.options import Echo, ExportOptions, ReadOptions, ScoreRequest, SelectOptions
from reidprune.pipeline.prune_folder import prune_scored
from reidprune.pipeline.score_folder import score_into
from reidprune.pipeline.selecting import Decision
from reidprune.train.config import TrainChoices


def run_folder(data: str | Path, out: str | Path, train: TrainChoices, request: ScoreRequest, select: SelectOptions,
               export: ExportOptions, read: ReadOptions, *, echo: Echo) -> Decision:
    """Score ``data`` into ``out`` and prune with the scores, holding ``out``'s lock throughout.

    The selection options are checked against the dataset before any training; a selection that
    fails after scoring says how to reuse the saved scores with ``reidprune prune``.

    Parameters
    ----------
    data, out: the dataset folder and the output folder.
    train: the training options given (the scoring run's).
    request: the scoring run (its methods: ``select.method``, our detector).
    select, export: how to select and what to write (see :func:`~reidprune.pipeline.prune_folder.prune_scored`).
    read: how the dataset is read.
    echo: prints results and notes.
    """
    before_training = partial(check_selection_setup, fraction=select.fraction, count=select.count,
                              materialize=export.materialize, out=out, decisions=select.decisions)
    with output_lock(out):
        scored = score_into(data, out, train, request, read, echo=echo, before_training=before_training)
        try:
            return prune_scored(scored.table, scored.train, scored.scores, out, select, export, echo=echo,
                                skipped=scored.scores.info.get("skipped_files"))
        except ReidPruneError as exc:
            saved = Path(out) / "scores.npz"
            raise ReidPruneError(
                f"{exc}. The scores were saved to {saved}: fix the selection options and reuse them with "
                f"`reidprune prune {data} --scores {saved} --out {out} ...` (no new training)") from None
