"""``reidprune run``: score a dataset folder with our method, then purify + prune + export, in one go."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from reidprune.errors import ReidPruneError
from reidprune.pipeline.checks import check_selection_setup, output_lock
from reidprune.pipeline.options import Echo, removal_fraction
from reidprune.pipeline.prune_folder import prune_scored
from reidprune.pipeline.score_folder import score_into
from reidprune.pipeline.selecting import Decision
from reidprune.train.config import TrainChoices

def run_folder(data: str | Path, out: str | Path, train: TrainChoices, *, echo: Echo, method: str = "entropy",
               score_epochs: int | None = None, stop: str | None = None, probe_fraction: float | None = None,
               layout: str = "auto", skip_bad_images: bool = False, progress: bool = True,
               **selection) -> Decision:
    """Score ``data`` into ``out`` and prune with the scores, holding ``out``'s lock throughout.

    The selection options are checked against the dataset before any training; a selection that
    fails after scoring says how to reuse the saved scores with ``reidprune prune``.

    Parameters
    ----------
    data, out: the dataset folder and the output folder.
    train: the training options given (the scoring run's).
    echo: prints results and notes.
    method: our detector, ``entropy`` or ``entropy_knn``; it ranks and purifies.
    score_epochs, stop, probe_fraction: the scoring run's cap, stop rule and probes (see ``score_into``).
    layout, skip_bad_images, progress: how the dataset is read.
    selection: :func:`~reidprune.pipeline.prune_folder.prune_scored`'s options (``fraction``,
        ``count``, ``delta``, ``materialize``, ...).
    """
    fraction, count = removal_fraction(selection.get("fraction"), selection.get("count")), selection.get("count")
    before_training = partial(check_selection_setup, fraction=fraction, count=count,
                              materialize=selection.get("materialize"), out=out,
                              decisions=selection.get("decisions"))
    with output_lock(out):
        extra = {} if probe_fraction is None else {"probe_fraction": probe_fraction}
        scored = score_into(data, out, train, echo=echo, methods=(method,), score_epochs=score_epochs, stop=stop,
                            layout=layout, skip_bad_images=skip_bad_images, progress=progress,
                            before_training=before_training, **extra)
        try:
            return prune_scored(scored.table, scored.train, scored.scores, out, method, echo=echo,
                                skipped=scored.scores.info.get("skipped_files"), **selection)
        except ReidPruneError as exc:
            saved = Path(out) / "scores.npz"
            raise ReidPruneError(
                f"{exc}. The scores were saved to {saved}: fix the selection options and reuse them with "
                f"`reidprune prune {data} --scores {saved} --out {out} ...` (no new training)") from None
