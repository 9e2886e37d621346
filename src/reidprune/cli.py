"""The ``reidprune`` command line: synth | score | prune | run | train | evaluate | report | review | demo | sweep.

The commands live in :mod:`reidprune.commands`, one module per group; this module is the
group that runs them and turns errors into one line. Nothing heavy is imported at the top, so
``--help`` and early errors print at once.
"""
from __future__ import annotations

import sys
import warnings

import click

from reidprune import __version__
from reidprune.commands import inspection, pruning, sweeps, synthetic, training
from reidprune.commands.options import DEFAULTS  # noqa: F401 (what --help shows; the tests read it here)
from reidprune.console import echo_log, show_warning
from reidprune.errors import ReidPruneError


class _Group(click.Group):
    """Turn ReidPruneError into one clear line and exit status 2; show warnings and progress notes
    as ``warning:`` / plain lines. Imports nothing heavy, so an early error prints at once."""

    def invoke(self, ctx):
        from reidprune.errors import TrainingInterrupted

        with warnings.catch_warnings(), echo_log():
            warnings.showwarning = show_warning
            try:
                return super().invoke(ctx)
            except ReidPruneError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(130 if isinstance(exc, TrainingInterrupted) else 2)
            except (PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
                # a safety net: the commands check their folders first, but the disk can change under them
                click.echo(f"error: {exc.filename or 'a file'}: {exc.strerror or exc}; check that the path "
                           "is a folder you can write to", err=True)
                sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="reidprune")
def main():
    """Prune, purify and export object re-identification datasets.

    Typical use on your own Market-1501-layout folder:

        reidprune run /data/Market-1501 --out market-pruned --fraction 0.2

    which scores every training image (a short training run recording logits), removes
    outliers, prunes the easiest images, relabels mislabeled ones and writes the lists,
    a CSV manifest and (with --materialize) a pruned copy of the dataset.
    """


for _group in (synthetic, pruning, training, inspection, sweeps):
    for _command in _group.COMMANDS:
        main.add_command(_command)
