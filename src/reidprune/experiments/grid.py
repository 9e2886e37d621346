"""The grid of a pruning sweep: methods x fractions x seeds (x noise, T, every, delta) -> cells.

A *cell* is one retraining on one pruned set. Settings a method does not depend on are set to
``None`` in its cells (random pruning has no T, no delta), so no two cells train the same thing.
Every seed (and noise ratio) also gets one unpruned baseline cell, method ``none``.

Method specs: a scoring method of :data:`reidprune.scores.registry.METHODS`, optionally
``:K`` (EL2N / GraNd averaged over K models, e.g. ``el2n:20``), ``+purify`` (outliers
removed and mislabeled images relabelled with our soft labels before pruning, e.g.
``entropy+purify``, the paper's full pipeline) and ``+balance`` (pruned with Sorscher et al.'s
class-balancing ratio :data:`BALANCE_RATIO`, as ``prune --class-balance 0.5``; not in the paper
for our score, e.g. ``entropy+balance``).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from reidprune.errors import ReidPruneError
from reidprune.select.defaults import PAPER_DELTA
from reidprune.run_key import run_key
from reidprune.scores.registry import CE_RUNS, METHODS, USES_T

BASELINE = "none"
#: Class-balancing ratio of ``+balance`` specs: the paper's value for supervised prototypes.
BALANCE_RATIO = 0.5
#: Pruning strategies a spec may name as a suffix (reidprune.select.strategies; "easy" is the paper's).
STRATEGY_SUFFIXES = ("hard", "window", "ccs", "redundancy", "auto")  # (random pruning is the "random" method;
# "auto" is the default of `run`: chosen per set by reidprune.select.outlook)
#: Suffixes a method spec may carry, in the order its name writes them.
SUFFIXES = ("purify", "balance") + STRATEGY_SUFFIXES
#: Methods with a model count.
MULTI_MODEL = CE_RUNS


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method spec: scoring ``base`` method, ``models`` (EL2N/GraNd), ``purify`` and ``balance``."""

    base: str
    models: int = 1
    purify: bool = False
    balance: bool = False
    strategy: str = "easy"

    @classmethod
    def parse(cls, spec: str) -> "MethodSpec":
        text, *suffixes = spec.strip().lower().split("+")
        unknown = [s for s in suffixes if s not in SUFFIXES]
        base, _, models = text.partition(":")
        if base == BASELINE and not suffixes and not models:
            return cls(BASELINE)
        strategies = [s for s in suffixes if s in STRATEGY_SUFFIXES]
        if base not in METHODS or unknown or len(set(suffixes)) < len(suffixes) or len(strategies) > 1:
            raise ReidPruneError(f"unknown method {spec!r}; use one of {', '.join(METHODS)}, optionally with "
                                 "':K' (el2n/grand over K models), '+purify', '+balance' and one strategy of '+hard', "
                                 "'+window', '+ccs', '+redundancy', '+auto' (e.g. entropy+purify, el2n:20, entropy+balance, entropy+ccs)")
        if models:
            if base not in MULTI_MODEL or not models.isdigit() or int(models) < 1:
                raise ReidPruneError(f"method {spec!r}: ':K' (K >= 1 models) applies only to el2n and grand")
        return cls(base, int(models or 1), "purify" in suffixes, "balance" in suffixes,
                   strategies[0] if strategies else "easy")

    @property
    def name(self) -> str:
        models = f":{self.models}" if self.models > 1 else ""
        strategy = "" if self.strategy == "easy" else f"+{self.strategy}"
        return f"{self.base}{models}{'+purify' if self.purify else ''}{'+balance' if self.balance else ''}{strategy}"

    @property
    def uses_T(self) -> bool:
        return self.base in USES_T or self.purify

    @property
    def uses_every(self) -> bool:
        return self.base == "entropy" or self.purify

    @property
    def scoring_methods(self) -> tuple[str, ...]:
        """The scoring methods this spec needs (our soft labels for purification)."""
        needed = [] if self.base in (BASELINE, "random") else [self.base]
        if self.purify and "entropy" not in needed:
            needed.append("entropy")
        return tuple(needed)


@dataclass(frozen=True)
class Grid:
    """What a sweep varies.

    Parameters
    ----------
    methods: method specs (see the module doc), e.g. ``("random", "entropy", "entropy+purify")``.
    fractions: fractions of the training set to remove, each in [0, 1); 0 with a ``+purify``
        method = purification only (the paper's noise figure).
    seeds: retraining seeds; every point is the mean / std over them.
    noise: symmetric label-noise ratios injected into the training labels before scoring.
    score_epochs: T values (``None`` = the scoring run's length).
    every: accumulation frequencies of our recorder (1 = every epoch).
    delta: outlier thresholds for ``+purify`` methods (paper: 0.10).
    delta_relative: read each delta as K x chance (K / C) instead, as ``prune --delta-chance``
        (for models trained from scratch, whose soft labels are flat).
    score_per_seed: score once per retraining seed (scoring seed = seed) instead of once with
        the scoring seed; costs a scoring run per seed, shows the spread of the scores too.
    max_outlier_fraction: passed to the selection (refuse flat soft labels); 1.0 accepts all.
    """

    methods: tuple[str, ...] = ("random", "entropy", "entropy+purify")
    fractions: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)
    seeds: tuple[int, ...] = (0, 1, 2)
    noise: tuple[float, ...] = (0.0,)
    score_epochs: tuple[int | None, ...] = (None,)
    every: tuple[int, ...] = (1,)
    delta: tuple[float, ...] = (PAPER_DELTA,)
    delta_relative: bool = False
    score_per_seed: bool = False
    max_outlier_fraction: float = 0.2

    def __post_init__(self):
        for name in ("methods", "fractions", "seeds", "noise", "score_epochs", "every", "delta"):
            values = tuple(getattr(self, name))
            if not values:
                raise ReidPruneError(f"grid: {name} is empty; give at least one value")
            object.__setattr__(self, name, tuple(dict.fromkeys(values)))
        for spec in self.methods:
            MethodSpec.parse(spec)
        _check_range("fractions", self.fractions, 0.0, 1.0)
        _check_range("noise", self.noise, 0.0, 1.0)
        _check_range("delta", self.delta, 0.0, math.inf if self.delta_relative else 1.0)
        for name in ("fractions", "noise", "delta"):  # 0 and 0.0 must make the same cell
            object.__setattr__(self, name, tuple(dict.fromkeys(float(v) for v in getattr(self, name))))
        for name in ("score_epochs", "every", "seeds"):
            low = 0 if name == "seeds" else 1
            bad = [v for v in getattr(self, name) if v is not None and (not isinstance(v, int) or v < low)]
            if bad:
                raise ReidPruneError(f"grid: {name} must be integers >= {low}, got {bad}")
        if not 0 <= self.max_outlier_fraction <= 1:
            raise ReidPruneError(f"grid: max_outlier_fraction must lie in [0, 1], got {self.max_outlier_fraction}")

    def as_dict(self) -> dict:
        return asdict(self)


def _check_range(name: str, values, low: float, high: float) -> None:
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
           or not low <= v < high]
    if bad:
        raise ReidPruneError(f"grid: {name} must be numbers in [{low:g}, {high:g}), got {bad} "
                             "(fractions, not percentages: 0.2 for 20%)")


@dataclass(frozen=True)
class Cell:
    """One retraining: settings a method does not use are ``None``."""

    method: str
    fraction: float
    seed: int
    noise: float
    score_epochs: int | None = None
    every: int | None = None
    delta: float | None = None

    @property
    def spec(self) -> MethodSpec:
        return MethodSpec.parse(self.method)

    def settings(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        return run_key(self.settings())

    def label(self) -> str:
        extra = [f"{k}={v:g}" for k, v in (("T", self.score_epochs), ("every", self.every), ("delta", self.delta),
                                          ("noise", self.noise)) if v is not None and (k != "noise" or v)]
        return f"{self.method} {self.fraction:.0%} seed {self.seed}" + (f" ({', '.join(extra)})" if extra else "")


def expand_grid(grid: Grid) -> list[Cell]:
    """Every distinct cell of ``grid``: baselines first, then method by method (scores are reused)."""
    cells: dict[str, Cell] = {}
    for noise in grid.noise:
        for seed in grid.seeds:
            cell = Cell(BASELINE, 0.0, seed, noise)
            cells.setdefault(cell.key(), cell)
    for spec_text in grid.methods:
        spec = MethodSpec.parse(spec_text)
        for noise in grid.noise:
            for T in grid.score_epochs if spec.uses_T else (None,):
                for every in grid.every if spec.uses_every else (None,):
                    for delta in grid.delta if spec.purify else (None,):
                        for fraction in grid.fractions:
                            for seed in grid.seeds:
                                if fraction == 0 and not spec.purify:
                                    cell = Cell(BASELINE, 0.0, seed, noise)  # nothing removed: the baseline
                                else:
                                    cell = Cell(spec.name, float(fraction), seed, float(noise), T, every, delta)
                                cells.setdefault(cell.key(), cell)
    return list(cells.values())


def read_grid_file(path: str | Path) -> dict:
    """Grid values from a ``.toml`` or ``.json`` file (keys = :class:`Grid`'s fields)."""
    path = Path(path)
    if not path.is_file():
        raise ReidPruneError(f"grid file {path} does not exist")
    try:
        if path.suffix == ".toml":
            import tomllib

            values = tomllib.loads(path.read_text())
        else:
            values = json.loads(path.read_text())
    except ImportError as exc:
        raise ReidPruneError(f"{path}: reading TOML needs Python 3.11+; write the grid as JSON") from exc
    except ValueError as exc:
        raise ReidPruneError(f"grid file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    if not isinstance(values, dict):
        raise ReidPruneError(f"grid file {path} must hold a table/object of grid fields")
    known = set(Grid.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ReidPruneError(f"grid file {path}: unknown key(s) {unknown}; known: {sorted(known)}")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def parse_list(text: str | None, kind=float, name: str = "value") -> tuple | None:
    """``"0.1,0.2"`` -> ``(0.1, 0.2)``; ``None`` stays ``None``; ``"none"`` items become ``None``."""
    if text is None:
        return None
    out = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        if item.lower() == "none":
            out.append(None)
            continue
        try:
            out.append(kind(item))
        except ValueError as exc:
            raise ReidPruneError(f"{name}: {item!r} is not a {kind.__name__}") from exc
    return tuple(out)


__all__ = ["BASELINE", "Cell", "Grid", "MethodSpec", "expand_grid", "parse_list", "read_grid_file"]
