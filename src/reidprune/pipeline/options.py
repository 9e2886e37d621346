"""The options of the scoring and selection steps, as frozen dataclasses.

:class:`ScoreOptions` (what :func:`~reidprune.pipeline.scoring.score_dataset` scores and how)
and :class:`SelectOptions` (how :func:`~reidprune.pipeline.selecting.decide` turns scores into
a selection). The commands build :class:`ScoreRequest` (what was asked of a scoring run before
the dataset is read: :meth:`ScoreRequest.resolve` is the one place its ``None`` become
defaults), :class:`SelectOptions`, :class:`ExportOptions` and :class:`ReadOptions`, and pass
them down as they are. Imports no torch or numpy: the command line's ``--help`` shows their
defaults.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Callable

from reidprune import __version__
from reidprune.errors import ReidPruneError
from reidprune.run_key import run_key
from reidprune.scores.registry import MAIN_RUN, METHODS
from reidprune.select.defaults import RELABEL_MODES
from reidprune.train.config import TrainConfig

if TYPE_CHECKING:
    from reidprune.dynamics.stopping import StopRule

#: How a step prints: ``echo(text)`` a result line, ``echo(text, err=True)`` a progress note
#: (``click.echo`` fits).
Echo = Callable[..., None]

STOP_MODES = ("probes", "auto", "fixed")
#: the paper's stop, :class:`ScoreOptions`' default (the command line's is :func:`default_stop`)
PAPER_STOP = "fixed"
STRATEGIES = ("easy", "random", "hard", "window", "ccs", "redundancy")  # reidprune.select.strategies, numpy-free


def _default_stop_rule() -> StopRule:
    from reidprune.dynamics.stopping import StopRule  # numpy and torch: only when options are built

    return StopRule()


@dataclass(frozen=True)
class ScoreOptions:
    """What to score and how.

    Parameters
    ----------
    methods: names from :data:`METHODS`.
    train: the main run's training configuration (``train.epochs`` = its length).
    score_epochs: T, the epochs our recorder accumulates and after which EL2N / GraNd are
        evaluated (paper: 12). ``None`` = ``train.epochs``.
    every: accumulate logits every k-th epoch only (paper ablation; 1 = every epoch).
    models: seeds averaged for EL2N and GraNd ("EL2N (20 models)" = 20).
    folds: K of the K-fold cross-validation behind confident learning.
    ma_decay: decay of the moving-average loss.
    aum_flags: with ``aum``, also run the two threshold-sample runs that flag mislabels
        (pruning by AUM needs only the margins of the main run).
    seed: seed of the random score and of the tie-breaking in forgetting.
    stop: ``"probes"`` gives a few samples a known wrong label in the scoring run (the probes,
        :func:`~reidprune.data.noise.choose_probes`), ends the window at the epoch where they say
        mislabel detection is best and estimates its precision, recall, the noise rate and the
        outlier threshold on this data (:mod:`reidprune.select.calibration`); their labels are
        restored afterwards. ``"fixed"`` records exactly T epochs (the paper); ``"auto"`` stops the recorder (and
        the main run, when it is T epochs long) at the first epoch where the ranking is stable
        or the model starts memorising the given labels, T being the cap (see
        :mod:`reidprune.dynamics.stopping`). Per-epoch diagnostics are recorded either way.
    stop_rule: the thresholds of the ``"auto"`` stop.
    probe_fraction: the share of the set made probes (``"probes"``; at most 400, one per identity).
    train_to_cap: benchmarks only: train every epoch of ``train.epochs`` even after the stop (the
        window still ends there), so a benchmark's observers see the whole trajectory.
    knn_k, knn_weight: ``entropy_knn`` (beyond the paper): the soft label mixed with the vote of
        each sample's ``knn_k`` nearest neighbours in the scoring model's BNNeck embedding,
        ``(1 - knn_weight) * soft + knn_weight * vote`` (see :mod:`reidprune.scores.neighbours`).
    recorder_topk: 0 = the exact recorder (N x C sums); K > 0 = the top-K recorder
        (:class:`~reidprune.dynamics.topk.TopKLogitRecorder`, N x (8K + 40) bytes) for N x C
        beyond memory. The scores then keep K mean logits per sample, not all C.
    """

    methods: tuple[str, ...] = ("entropy",)
    train: TrainConfig = field(default_factory=TrainConfig)
    score_epochs: int | None = None
    every: int = 1
    models: int = 1
    folds: int = 5
    ma_decay: float = 0.9
    aum_flags: bool = True
    seed: int = 0
    stop: str = PAPER_STOP
    stop_rule: StopRule = field(default_factory=_default_stop_rule)
    probe_fraction: float = 0.05
    train_to_cap: bool = False
    knn_k: int | None = None  # None: half the median number of images per identity
    knn_weight: float = 0.3
    recorder_topk: int = 0

    def __post_init__(self):
        if self.stop not in STOP_MODES:
            raise ReidPruneError(f"stop must be one of {', '.join(STOP_MODES)}, got {self.stop!r}")
        if not 0 < self.probe_fraction < 0.5:
            raise ReidPruneError(f"probe_fraction must lie in (0, 0.5), got {self.probe_fraction}")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ReidPruneError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
        if self.score_epochs is not None and not 1 <= self.score_epochs <= self.train.epochs \
                and any(m in MAIN_RUN for m in self.methods):
            raise ReidPruneError(
                f"--score-epochs {self.score_epochs} must lie in 1..{self.train.epochs} (the main run's --epochs)")
        if "entropy" in self.methods and self.every > self.T:
            raise ReidPruneError(
                f"--every {self.every} records no epoch of the {self.T}-epoch accumulation window "
                f"(--score-epochs, default --epochs); use --every {self.T} or less, or more epochs")
        if self.recorder_topk and (self.stop != "fixed" or "entropy_knn" in self.methods):
            raise ReidPruneError("the top-k recorder (--recorder-topk) keeps no full soft labels: it works with "
                                 "--stop fixed and without entropy_knn")
        if self.recorder_topk < 0:
            raise ReidPruneError(f"recorder_topk must be 0 (exact) or a number of classes K > 0, got "
                                 f"{self.recorder_topk}")
        if self.models < 1 or self.folds < 2:
            raise ReidPruneError(f"need models >= 1 and folds >= 2, got {self.models} and {self.folds}")

    @property
    def T(self) -> int:
        return self.score_epochs or self.train.epochs

    def key(self, fingerprint: str, run: str) -> str:
        """The checkpoint key of one training run of these options on a training set."""
        return run_key([fingerprint, run, asdict(self), __version__])


@dataclass(frozen=True)
class SelectOptions:
    """How to turn scores into a selection.

    Parameters
    ----------
    method: which scored method ranks the samples (``entropy`` = ours).
    fraction / count: how many samples to remove in total (outliers included); give one.
    purify: remove outliers and relabel mislabeled samples (the paper's full pipeline) with the
        soft labels of ``method`` when it has them (``entropy_knn``), else of ``entropy``.
    delta: outlier threshold on max(soft label) (paper: 0.10); None = measured by the scoring
        run's probes when it had them (:func:`~reidprune.select.calibration.probe_delta`), else
        the scoring preset's (:data:`reidprune.presets.PRESETS`).
    delta_relative: read ``delta`` as a multiple of chance 1/C instead.
    relabel: ``"auto"`` relabels the flagged samples only when the scoring run's probes say it
        fixes more labels than it breaks (:func:`~reidprune.select.calibration.relabel_pays`;
        otherwise they are only flagged, for ``reidprune review``); ``"all"`` always relabels
        (the paper); ``"none"`` never.
    strategy: which samples to prune by the ranking method's score
        (:mod:`reidprune.select.strategies`): ``auto`` (chosen from the images per identity by what
        the benchmarks measured, :mod:`reidprune.select.outlook`; the command line's default),
        ``easy`` (the paper: the lowest first), ``random``, ``hard``,
        ``window`` (pruning-rate aware), ``ccs`` (coverage-centric) or ``redundancy`` (near-duplicates
        of an identity first, by the soft labels' mean logits; every identity keeps one image).
    min_per_identity: never prune an identity below this many images.
    class_balance: Sorscher et al.'s class-balancing ratio (paper: 0.5 for prototypes).
    max_outlier_fraction: refuse to go on when more than this share of the set is flagged as
        outliers (flat soft labels of an under-trained scoring model); 1.0 accepts anything.
    decisions: a reviewer's decisions file (``reidprune review``'s ``review.sqlite``) applied
        after selection; see :mod:`reidprune.select.decisions`.
    """

    method: str = "entropy"
    fraction: float | None = 0.3
    count: int | None = None
    purify: bool = True
    delta: float | None = None
    delta_relative: bool = False
    relabel: str = "auto"
    strategy: str = "easy"
    min_per_identity: int = 0
    class_balance: float = 0.0
    max_outlier_fraction: float = 0.2
    seed: int = 0
    decisions: str | None = None

    def __post_init__(self):
        if self.strategy not in STRATEGIES + ("auto",):
            raise ReidPruneError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.relabel not in RELABEL_MODES:
            raise ReidPruneError(f"relabel must be one of {', '.join(RELABEL_MODES)}, got {self.relabel!r}")
        if self.delta_relative and self.delta is None:
            raise ReidPruneError("delta_relative needs a delta (K of K x chance)")


def default_stop(probes: int, pretrained: bool, recorder_topk: int = 0, min_probes: int = 30) -> str:
    """The scoring stop when none is given (the one place it is decided).

    ``"probes"`` where the set affords ``min_probes`` probes (the estimates need them) and the
    exact recorder keeps full soft labels; else ``"auto"`` (the diagnostics' heuristic) for a
    pretrained backbone, which memorises wrong labels within a few epochs, and the paper's
    ``"fixed"`` T from scratch or with the top-k recorder.

    Parameters
    ----------
    probes: how many probes the set would get (:func:`reidprune.data.noise.probe_count`).
    pretrained: the scoring model starts from ImageNet (or local) weights.
    recorder_topk: the top-k recorder's K (0 = exact).
    min_probes: :data:`reidprune.select.calibration.MIN_PROBES`.
    """
    if recorder_topk:
        return PAPER_STOP
    if probes >= min_probes:
        return "probes"
    return "auto" if pretrained else PAPER_STOP


def removal_fraction(fraction: float | None, count: int | None) -> float | None:
    """The fraction to remove: ``fraction`` as given, :class:`SelectOptions`' default when neither
    a fraction nor a count is given, None when only ``count`` is.

    Parameters
    ----------
    fraction: share of the training set to remove (``--fraction``), or None.
    count: number of images to remove (``--count``), or None.
    """
    if fraction is not None and count is not None:
        raise ReidPruneError("give either --fraction or --count, not both")
    return SelectOptions.fraction if fraction is None and count is None else fraction


@dataclass(frozen=True)
class ReadOptions:
    """How a command reads a dataset folder.

    Parameters
    ----------
    layout: the dataset layout, ``"auto"`` to detect it.
    skip_bad_images: leave unreadable images out (counted) instead of stopping.
    progress: show progress bars.
    """

    layout: str = "auto"
    skip_bad_images: bool = False
    progress: bool = True


@dataclass(frozen=True)
class ExportOptions:
    """What ``prune`` / ``run`` write besides the lists, manifest and summary.

    Parameters
    ----------
    materialize: also write a pruned, corrected copy of the dataset to this new folder.
    link: how the copy places images (``hardlink``, ``copy``, ``symlink``).
    """

    materialize: str | None = None
    link: str = "hardlink"


@dataclass(frozen=True)
class ScoreRequest:
    """What a scoring command was asked, before the dataset and its preset are known.

    Parameters
    ----------
    methods: method names, ``"all"`` for every one of :data:`METHODS`.
    stop: one of :data:`STOP_MODES`, or None for :func:`default_stop`'s choice on the set.
    The other fields are :class:`ScoreOptions`' (``score_epochs`` None = the run's length).
    """

    methods: tuple[str, ...] = ScoreOptions.methods
    score_epochs: int | None = ScoreOptions.score_epochs
    every: int = ScoreOptions.every
    models: int = ScoreOptions.models
    folds: int = ScoreOptions.folds
    ma_decay: float = ScoreOptions.ma_decay
    aum_flags: bool = ScoreOptions.aum_flags
    recorder_topk: int = ScoreOptions.recorder_topk
    stop: str | None = None
    probe_fraction: float = ScoreOptions.probe_fraction

    def resolve(self, train: TrainConfig, seed: int, probes: int, min_probes: int) -> ScoreOptions:
        """The :class:`ScoreOptions` of this request on a set that affords ``probes`` probes
        (:func:`reidprune.data.noise.probe_count`; ``min_probes`` is
        :data:`reidprune.select.calibration.MIN_PROBES`)."""
        methods = METHODS if "all" in self.methods else tuple(dict.fromkeys(self.methods))
        stop = self.stop
        if stop is None:
            stop = default_stop(probes, bool(train.pretrained or train.weights), self.recorder_topk, min_probes)
        same = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("methods", "stop")}
        return ScoreOptions(methods=methods, train=train, seed=seed, stop=stop, **same)


def select_options(method: str, fraction: float | None = None, count: int | None = None, delta: float | None = None,
                   delta_chance: float | None = None, purify: bool = SelectOptions.purify,
                   relabel: str = SelectOptions.relabel, strategy: str = SelectOptions.strategy,
                   min_per_identity: int = SelectOptions.min_per_identity,
                   class_balance: float = SelectOptions.class_balance,
                   max_outlier_fraction: float = SelectOptions.max_outlier_fraction,
                   decisions: str | None = None) -> SelectOptions:
    """The :class:`SelectOptions` of the command-line choices: ``fraction`` / ``count`` (at most
    one; neither = the default fraction) and ``delta`` / ``delta_chance`` (K x chance, K / C;
    it overrides ``delta``) are resolved here, the rest passes as given."""
    return SelectOptions(method=method, fraction=removal_fraction(fraction, count), count=count,
                         purify=purify, delta=delta_chance if delta_chance is not None else delta,
                         delta_relative=delta_chance is not None, relabel=relabel, strategy=strategy,
                         min_per_identity=min_per_identity, class_balance=class_balance,
                         max_outlier_fraction=max_outlier_fraction, decisions=decisions)
