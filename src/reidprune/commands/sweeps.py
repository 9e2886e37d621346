"""``sweep`` (retrain on every method x fraction x seed) and ``sweep-plot`` (its figures)."""
from __future__ import annotations

import click

from reidprune.commands.options import training_options
from reidprune.console import FiniteFloatRange
from reidprune.select.defaults import PAPER_DELTA


@click.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True,
              help="Sweep folder: sweep.sqlite, scores/ (cached), figures and tables.")
@click.option("--grid", "grid_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML or JSON grid file (keys: methods, fractions, seeds, noise, score_epochs, every, delta, "
                   "score_per_seed, max_outlier_fraction); options below override it.")
@click.option("--method", "-m", "methods", multiple=True,
              help="Method spec, repeatable: entropy (ours), random, el2n, forgetting, prototypes, ma_loss, aum, "
                   "grand, confident; ':K' = EL2N/GraNd over K models (el2n:20); '+purify' = with purification "
                   "(entropy+purify); '+balance' = class-balanced pruning, ratio 0.5 (entropy+balance); one pruning "
                   "strategy '+hard', '+window', '+ccs', '+redundancy' or '+auto' (run's default: chosen per set; "
                   "entropy+ccs; see prune --strategy). "
                   "[default: random, entropy, entropy+purify]")
@click.option("--fractions", default=None, help="Fractions pruned, e.g. 0.1,0.2,0.3 [default: 0.1,...,0.5].")
@click.option("--seeds", default=None, help="Retraining seeds, e.g. 0,1,2 [default: 0,1,2].")
@click.option("--noise", default=None, help="Symmetric label-noise ratios, e.g. 0,0.2 [default: 0].")
@click.option("--score-epochs", "score_epochs", default=None, help="T values, e.g. 6,12 [default: --epochs].")
@click.option("--every", default=None, help="Accumulation frequencies of our recorder, e.g. 1,2 [default: 1].")
@click.option("--delta", default=None,
              help=f"Outlier thresholds of +purify methods, e.g. 0.1 [default: {PAPER_DELTA:g}].")
@click.option("--delta-chance/--delta-absolute", "delta_relative", default=None,
              help="Read --delta values as K x chance (K / C), as `prune --delta-chance` [default: absolute].")
@click.option("--score-per-seed/--score-once", default=None,
              help="Score once per retraining seed instead of once with --seed [default: once].")
@click.option("--max-outlier-fraction", type=FiniteFloatRange(0, 1), default=None,
              help="Skip +purify cells that would remove more outliers than this [default: 0.2].")
@click.option("--retrain-epochs", type=click.IntRange(1), default=None,
              help="Epochs of each retraining [default: the preset's full training, as `train`'s --epochs]; "
                   "--epochs is the scoring run's length.")
@click.option("--equal-iterations/--equal-epochs", default=False, show_default=True,
              help="Train a cell pruned by f for 1/(1-f) x the retraining epochs (lr milestones moved too), so "
                   "every cell takes about the unpruned model's iterations; the default compares at equal epochs. "
                   "Use its own --out folder.")
@click.option("--plot/--no-plot", default=True, show_default=True, help="Write the summary and figures at the end.")
@click.option("--dry-run", is_flag=True, help="Only count the cells to do.")
@training_options
def sweep(data, out, grid_file, methods, fractions, seeds, noise, score_epochs, every, delta, delta_relative,
          score_per_seed, max_outlier_fraction, retrain_epochs, equal_iterations, plot, dry_run, train, read):
    """Retrain on DATA pruned by each method x fraction x seed; results in OUT/sweep.sqlite.

    Scores are computed once per scoring setting and cached in OUT/scores; a re-run skips the
    finished cells. `reidprune sweep-plot OUT/sweep.sqlite` redraws the figures.
    """
    from reidprune.experiments.sweep import build_grid, sweep_folder

    grid = build_grid(grid_file, methods=methods, fractions=fractions, seeds=seeds, noise=noise,
                      score_epochs=score_epochs, every=every, delta=delta, delta_relative=delta_relative,
                      score_per_seed=score_per_seed, max_outlier_fraction=max_outlier_fraction)
    sweep_folder(data, out, grid, train, read, echo=click.echo, retrain_epochs=retrain_epochs,
                 equal_iterations=equal_iterations, dry_run=dry_run, plot=plot)


@click.command("sweep-plot")
@click.argument("db", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Where to write [default: beside DB].")
@click.option("--dpi", type=click.IntRange(1, 600), default=100, show_default=True)
def sweep_plot(db, out, dpi):
    """Summary JSON, Markdown table (with the cost ledger) and PNG/SVG figures of a sweep's DB."""
    from reidprune.experiments.sweep_report import write_sweep_report

    for path in write_sweep_report(db, out, dpi):
        click.echo(f"wrote {path}")


COMMANDS = (sweep, sweep_plot)
