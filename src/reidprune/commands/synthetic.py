"""``synth`` (write a synthetic world) and ``demo`` (the whole pipeline on one)."""
from __future__ import annotations

import click

from reidprune.commands.options import SEED, quiet_option
from reidprune.console import FiniteFloatRange


@click.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--train-ids", type=click.IntRange(2), default=100, show_default=True, help="Training identities.")
@click.option("--test-ids", type=click.IntRange(1), default=50, show_default=True, help="Query/gallery identities.")
@click.option("--images-per-id", type=click.IntRange(2), default=20, show_default=True,
              help="Training images per identity.")
@click.option("--cameras", type=click.IntRange(2, 9), default=4, show_default=True, help="Cameras.")
@click.option("--mislabel-rate", type=FiniteFloatRange(0, 0.9), default=0.10, show_default=True,
              help="Fraction of training crops whose file name carries another identity.")
@click.option("--outlier-rate", type=FiniteFloatRange(0, 0.9), default=0.03, show_default=True,
              help="Fraction of training crops that are outliers (two people, occlusion, truncation).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty OUT.")
@quiet_option
def synth(out, train_ids, test_ids, images_per_id, cameras, mislabel_rate, outlier_rate, seed, overwrite, quiet):
    """Write a synthetic ReID world (Market-1501 layout + ground_truth.csv) to OUT."""
    from reidprune.data.synth import SynthConfig, generate_world

    config = SynthConfig(num_train_ids=train_ids, num_test_ids=test_ids, images_per_id=images_per_id,
                         num_cameras=cameras, mislabel_rate=mislabel_rate, outlier_rate=outlier_rate, seed=seed)
    path = generate_world(out, config, overwrite=overwrite, progress=not quiet)
    click.echo(f"wrote {config.num_train_images} training images of {train_ids} identities to {path}")


@click.command()
@click.option("--out", "-o", type=click.Path(file_okay=False), default="demo-output", show_default=True,
              help="Where the synthetic world and every output go.")
@click.option("--fraction", type=FiniteFloatRange(0, 1, max_open=True), default=0.3, show_default=True,
              help="Fraction of the training set to remove.")
@click.option("--retrain-epochs", type=click.IntRange(1), default=None, help="Epochs of each retraining.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def demo(out, fraction, retrain_epochs, seed, quiet):
    """The whole pipeline on a synthetic world, with a table of what it found and what it cost."""
    from reidprune.pipeline.demo import DemoOptions, format_table, run_demo

    given = {} if retrain_epochs is None else {"retrain_epochs": retrain_epochs}
    options = DemoOptions(fraction=fraction, seed=seed, **given)
    result = run_demo(out, options, progress=not quiet, echo=lambda m: click.echo(m, err=True))
    click.echo(format_table(result))


COMMANDS = (synth, demo)
