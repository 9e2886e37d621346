"""``train`` (train and evaluate a model) and ``evaluate`` (a saved model)."""
from __future__ import annotations

import click

from reidprune.commands.options import training_options
from reidprune.console import FiniteFloatRange
from reidprune.pipeline.options import ReadOptions
from reidprune.train.config import MODES, TrainConfig


@click.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", type=click.Path(file_okay=False), required=True,
              help="Output folder (model.pt, metrics.json).")
@click.option("--manifest", type=click.Path(dir_okay=False), default=None,
              help="Train only on the rows a manifest keeps, with its corrected ids.")
@click.option("--dynamic-prune", "dynamic", type=FiniteFloatRange(0, 1, max_open=True), default=0.0,
              show_default=True,
              help="Prune while training instead of before (InfoBatch-style): each epoch skip this share of the "
                   "images the running soft label calls easy (see --dynamic-easy), scale the loss of the easy ones "
                   "kept to match, and train on everything in the last 1/8 of the epochs. 0 = off.")
@click.option("--dynamic-easy", type=click.Choice(["mean", "median"]), default="mean", show_default=True,
              help="Which images --dynamic-prune calls easy: running-soft-label entropy below the mean (InfoBatch's "
                   "threshold) or below the median (half the images).")
@training_options
def train(data, out, manifest, dynamic, dynamic_easy, train, read):
    """Train a ReID (or classification) model on DATA and evaluate it."""
    from reidprune.pipeline.retrain import train_folder

    train_folder(data, out, train, read, manifest=manifest, dynamic=dynamic, dynamic_easy=dynamic_easy, echo=click.echo)


@click.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False))
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="model.pt written by `reidprune train`.")
@click.option("--layout", default="auto", show_default=True, help="Dataset layout (see `score --help`).")
@click.option("--mode", type=click.Choice(MODES), default=TrainConfig.mode, show_default=True)
@click.option("--device", default=TrainConfig.device, show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def evaluate(data, model_path, layout, mode, device, quiet):
    """Evaluate a trained model on DATA's query/gallery (or test) split."""
    from reidprune.pipeline.retrain import evaluate_folder

    evaluate_folder(data, model_path, ReadOptions(layout=layout, progress=not quiet), mode=mode, device=device,
                    echo=click.echo)


COMMANDS = (train, evaluate)
