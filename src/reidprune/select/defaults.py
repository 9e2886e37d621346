"""The outlier threshold's defaults, written once (imports nothing: the command line's --help reads it).

Where a run's delta comes from, in order (:func:`reidprune.pipeline.selecting.decide`): the option
given; else what the scoring run's probes measured (:func:`reidprune.select.calibration.probe_delta`);
else the scoring preset's below; else the paper's.
"""

#: the paper's outlier threshold: max(soft label) <= 0.10 (robust between 0.05 and 0.15)
PAPER_DELTA = 0.10

#: per scoring preset, for scores without probes. The paper's 0.10 assumes 12 epochs of ResNet-50 at
#: 256x128; the cpu preset's early-stopped MobileNetV2 has flatter soft labels: on CUHK03 (20% noise,
#: bench/cuhk03_dynamics.py) 0.10 flags 14% of the images, 0.03 flags 1.5% (92% of them mislabeled).
PRESET_DELTA = {"paper": PAPER_DELTA, "cpu": 0.03, "small": PAPER_DELTA}
