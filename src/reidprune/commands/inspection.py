"""``report`` (pictures of what a prune flagged) and ``review`` (decide on it in the browser)."""
from __future__ import annotations

import click

from reidprune.commands.options import SEED, quiet_option
from reidprune.console import FiniteFloatRange


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--data", type=click.Path(exists=True, file_okay=False), required=True,
              help="The dataset folder the manifest's paths are relative to.")
@click.option("--scores", "scores_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="scores.npz the selection was made from (soft-label bars) [default: FOLDER/scores.npz if any].")
@click.option("--delta", type=FiniteFloatRange(0, 1, min_open=True), default=None,
              help="Outlier threshold to mark [default: the one the selection applied, from FOLDER/selection.json].")
@click.option("--per-group", type=click.IntRange(1, 40), default=12, show_default=True,
              help="Images per row of the gallery.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@quiet_option
def report(folder, data, scores_path, delta, per_group, seed, quiet):
    """Pictures of what was flagged: FOLDER is a `prune` output (with manifest.csv).

    Writes FOLDER/report/index.html (an offline HTML report: summary, histograms, outliers,
    relabelled with their soft labels' top-3 identities, pruned easiest, hardest kept, every
    identity from easy to hard), flagged.png, identities.png and scores.png.
    """
    from reidprune.pipeline.report_folder import write_report

    for path in write_report(folder, data, delta=delta, per_group=per_group, seed=seed, scores=scores_path,
                             progress=not quiet):
        click.echo(f"wrote {path}")


@click.command()
@click.argument("out", type=click.Path(exists=True, file_okay=False))
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="The dataset folder [default: the one recorded in OUT/selection.json].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default is this machine only (any other address warns).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
@quiet_option
def review(out, data, host, port, quiet):
    """Accept, reject or correct flagged images in the browser; OUT is a `prune` output.

    Every decision is saved at once in OUT/review.sqlite; apply them with
    `reidprune prune ... --decisions OUT/review.sqlite`.
    """
    from reidprune.report.review import serve

    if quiet:  # no line per request
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serve(out, host=host, port=port, data_root=data, echo=lambda m: click.echo(m, err=True))


COMMANDS = (report, review)
