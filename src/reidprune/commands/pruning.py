"""``score``, ``prune`` and ``run`` (both in one go)."""
from __future__ import annotations

import click

from reidprune.commands.options import (probe_option, quiet_option, score_epochs_option, scoring_request,
                                        selection_options, stop_option, training_options)
from reidprune.console import FiniteFloatRange
from reidprune.pipeline.options import ReadOptions, ScoreRequest, SelectOptions
from reidprune.scores.registry import METHODS, REGISTRY


@click.command()
@scoring_request
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--method", "-m", "methods", multiple=True, default=ScoreRequest.methods, show_default=True,
              type=click.Choice([*METHODS, "all"]),
              help="Scoring method(s); repeat the option for several (shared training runs are reused): "
                   + "; ".join(f"{m.name}: {m.summary}" for m in REGISTRY.values()) + ".")
@score_epochs_option
@click.option("--every", type=click.IntRange(1), default=ScoreRequest.every, show_default=True,
              help="Accumulate logits every k-th epoch only (ablation; every=T is last epoch only).")
@click.option("--models", type=click.IntRange(1), default=ScoreRequest.models, show_default=True,
              help="Seeds for EL2N / GraNd.")
@click.option("--folds", type=click.IntRange(2), default=ScoreRequest.folds, show_default=True,
              help="K for confident learning.")
@click.option("--ma-decay", type=FiniteFloatRange(0, 1, max_open=True), default=ScoreRequest.ma_decay,
              show_default=True, help="Decay of the moving-average loss.")
@click.option("--aum-flags/--no-aum-flags", default=ScoreRequest.aum_flags, show_default=True,
              help="With aum: two extra runs with threshold samples to flag mislabels (pruning needs none).")
@click.option("--recorder-topk", type=click.IntRange(0), default=ScoreRequest.recorder_topk, show_default=True,
              help="0: exact recorder (N x C sums). K > 0: keep the top K classes per sample plus the rest's "
                   "mass, N x (8K + 40) bytes, for N x C beyond memory.")
@stop_option
@probe_option
@training_options
def score(data, out, request, train, read):
    """Score every training image of DATA; writes OUT/scores.npz.

    Re-running the same command after an interruption resumes from OUT/checkpoints.
    """
    from reidprune.pipeline.score_folder import score_folder

    score_folder(data, out, train, request, read, echo=click.echo)


@click.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--scores", "scores_path", type=click.Path(dir_okay=False), required=True,
              help="scores.npz written by `reidprune score`.")
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--method", "-m", default=SelectOptions.method, show_default=True,
              help="Which scored method ranks the images.")
@click.option("--layout", default="auto", show_default=True, help="Dataset layout (see `score --help`).")
@selection_options
@quiet_option
def prune(data, scores_path, out, layout, quiet, select, export):
    """Purify and prune DATA with scores from `reidprune score`; writes lists, manifest, summary."""
    from reidprune.pipeline.prune_folder import prune_folder

    prune_folder(data, scores_path, out, select, export, ReadOptions(layout=layout, progress=not quiet),
                 echo=_quieter(quiet))


def _quieter(quiet: bool):
    """``click.echo`` without the per-file lines (indented) when ``quiet``."""
    def echo(message="", err=False):
        if not (quiet and str(message).startswith("  ")):
            click.echo(message, err=err)
    return echo


@click.command()
@scoring_request
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--method", "-m", type=click.Choice(("entropy", "entropy_knn")), default="entropy", show_default=True,
              help="Our detector: entropy (the paper's soft label) or entropy_knn (mixed with a neighbour vote in "
                   "the scoring model's embedding; corrects better on scarce data).")
@score_epochs_option
@selection_options
@stop_option
@probe_option
@training_options
def run(data, out, request, select, export, train, read):
    """Score DATA with our method, then purify + prune + export, in one command."""
    from reidprune.pipeline.run_folder import run_folder

    run_folder(data, out, train, request, select, export, read, echo=click.echo)


COMMANDS = (score, prune, run)
