"""How the command line talks: warnings and log notes as plain lines, finite-number options.

Light on purpose (click and the standard library only): the CLI's error path uses it before
anything heavy is imported.
"""
from __future__ import annotations

import contextlib
import logging

import click


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python warnings as one ``warning: ...`` line, without the source line that raised them."""
    click.echo(f"warning: {message}", err=True)


@contextlib.contextmanager
def echo_log():
    """Print the library's INFO log lines (e.g. "resuming from epoch 7, step 12") on stderr."""
    class Echo(logging.Handler):
        def emit(self, record):
            click.echo(record.getMessage(), err=True)

    logger, handler = logging.getLogger("reidprune"), Echo(logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange, also refusing nan (which passes every comparison) and inf."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number
