"""Every scoring method in one table: its name, the training run it needs, what it stores.

Torch- and numpy-free, so the command line (choices, help) and the scheduler
(:func:`reidprune.pipeline.scoring.score_dataset`, which runs each kind of run once and lets
every method that needs it ride on it) read the same facts.

Kinds of run:

* ``"none"``: no training (``random``);
* ``"main"``: the main run, the recipe of the ``train`` configuration, observed by hooks;
* ``"ce"``: CE-only runs of T epochs, one per model (EL2N, GraNd; they ride on the main run in
  classify mode with one model);
* ``"folds"``: K-fold cross-validation runs of T epochs (confident learning).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodInfo:
    """One scoring method.

    Attributes
    ----------
    name: the method's name on the command line and in ``scores.npz``.
    run: the kind of training run it needs (see the module doc).
    full_run: it needs every epoch of the main run, not only the first T (the stop does not end
        the run early).
    uses_T: it depends on T (``--score-epochs``).
    extras: the per-sample arrays it stores besides its importance.
    summary: one line for the help.
    """

    name: str
    run: str
    full_run: bool = False
    uses_T: bool = False
    extras: tuple[str, ...] = ()
    summary: str = ""


REGISTRY: dict[str, MethodInfo] = {m.name: m for m in (
    MethodInfo("entropy", "main", uses_T=True,
               extras=("mean_logits", "predicted", "max_score", "visits", "probe", "probe_label", "probe_similar"),
               summary="ours: entropy of the soft label averaged over the scoring window"),
    MethodInfo("entropy_knn", "main", uses_T=True, extras=("soft_labels", "predicted", "max_score"),
               summary="ours mixed with a neighbour vote in the scoring model's embedding"),
    MethodInfo("random", "none", summary="a random score (the baseline every method must beat)"),
    MethodInfo("el2n", "ce", uses_T=True, summary="EL2N: error L2 norm after T epochs, averaged over --models"),
    MethodInfo("grand", "ce", uses_T=True, summary="GraNd: gradient norm after T epochs"),
    MethodInfo("forgetting", "main", full_run=True, extras=("forgets", "ever_correct"),
               summary="forgetting events over the whole run"),
    MethodInfo("prototypes", "main", full_run=True, summary="supervised prototypes: distance to the class mean"),
    MethodInfo("ma_loss", "main", full_run=True, summary="moving-average loss"),
    MethodInfo("aum", "main", full_run=True, extras=("aum", "threshold_aum", "mislabeled"),
               summary="area under the margin (with --aum-flags: threshold-sample runs flag mislabels)"),
    MethodInfo("confident", "folds", uses_T=True, extras=("mislabeled", "suggested", "pred_probs"),
               summary="confident learning (cleanlab) on K-fold predicted probabilities"),
)}

METHODS = tuple(REGISTRY)
#: methods observed on the main run
MAIN_RUN = tuple(m.name for m in REGISTRY.values() if m.run == "main")
#: methods of the CE-only runs
CE_RUNS = tuple(m.name for m in REGISTRY.values() if m.run == "ce")
#: main-run methods that need every epoch of the run, not only the first T
FULL_RUN = tuple(m.name for m in REGISTRY.values() if m.full_run)
#: methods whose score depends on T
USES_T = tuple(m.name for m in REGISTRY.values() if m.uses_T)
