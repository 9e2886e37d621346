"""The command line's commands, one module per group of commands; :mod:`reidprune.cli` assembles them.

Each command parses its options into the modules' option dataclasses and calls one function of
:mod:`reidprune.pipeline` (or :mod:`reidprune.experiments`, :mod:`reidprune.report`); nothing
heavy is imported at module level, so ``--help`` and early errors print at once.
"""
