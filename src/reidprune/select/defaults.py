"""The purification's defaults, written once (imports nothing: the command line's --help reads it).

Where a run's delta comes from, in order (:func:`reidprune.pipeline.selecting.decide`): the option
given; else what the scoring run's probes measured (:func:`reidprune.select.calibration.probe_delta`);
else the scoring preset's (:data:`reidprune.presets.PRESETS`); else the paper's.
"""

#: the paper's outlier threshold: max(soft label) <= 0.10 (robust between 0.05 and 0.15)
PAPER_DELTA = 0.10

#: how flagged images are treated: relabel when the probes say it pays, always (the paper), never
RELABEL_MODES = ("auto", "all", "none")
