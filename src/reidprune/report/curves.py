"""Pruning curves in the style of the paper's Fig. 4, plus the figure helpers the report shares.

Figures are drawn on matplotlib's non-interactive Agg canvas directly (``Figure`` +
``FigureCanvasAgg``), never through ``pyplot``: nothing opens a window, no global backend is
switched, and the PNG is rendered at exactly ``figsize * dpi`` pixels (no "tight" cropping,
whatever the user's matplotlibrc says), so callers can rely on the pixel size.
"""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reidprune.atomic import atomic_path
from reidprune.errors import ReidPruneError

#: Name of the unpruned baseline in ``results``; drawn as a horizontal mean +/- std band.
NO_PRUNING = "no pruning"
#: Size of the pruning-curve figure in inches (multiples of 1/4, so any integer dpi gives
#: an exact pixel size: 6.5 * dpi by 4.5 * dpi).
CURVE_SIZE_IN = (6.5, 4.5)
#: Largest dpi accepted: enough for print, small enough that a typo cannot exhaust memory.
MAX_DPI = 600
#: Largest side of a figure in pixels (Agg refuses more than 2**16).
MAX_PIXELS = 2 ** 15


def pruning_curve(results: Mapping[str, Sequence[tuple[float, float, float]]],
                  out_png: str | os.PathLike, title: str = "",
                  ylabel: str = "(rank-1 + mAP) / 2",
                  xlabel: str = "fraction of dataset pruned (%)", dpi: int = 100) -> Path:
    """Draw accuracy against the fraction pruned, one line per method, and save it as PNG.

    Parameters
    ----------
    results:
        Method name -> list of ``(fraction_pruned, mean, std)`` tuples, e.g. over several
        seeds. Fractions lie in ``[0, 1)`` and are drawn in percent; each method's points are
        sorted by fraction and drawn as a line with a shaded ``mean +/- std`` band. A method
        named ``"no pruning"`` (case and surrounding spaces ignored) must hold exactly one
        tuple with fraction 0 and is drawn as a horizontal band across the plot.
    out_png:
        The PNG file to write (atomically; replaced if it exists; parent folders created).
    title:
        Figure title (e.g. ``"Market-1501 + ResNet-50"``); empty for none.
    ylabel, xlabel:
        Axis labels.
    dpi:
        Resolution; the image is ``CURVE_SIZE_IN[0] * dpi`` by ``CURVE_SIZE_IN[1] * dpi``
        pixels (650 x 450 at the default 100).

    Returns
    -------
    Path
        ``out_png``.

    Raises
    ------
    ReidPruneError
        For an empty ``results``, a tuple that is not ``(fraction, mean, std)``, a fraction
        outside ``[0, 1)``, a repeated fraction within a method, a non-finite value or a
        negative std.
    """
    series = check_results(results)
    dpi = check_dpi(dpi)
    figure = new_figure(CURVE_SIZE_IN, dpi)
    axes = figure.add_axes((0.12, 0.13, 0.84, 0.78 if title else 0.82))
    baseline = next((name for name in series if _is_baseline(name)), None)
    methods = [name for name in series if name != baseline]
    for position, name in enumerate(methods):
        _draw_method(axes, series[name], name, f"C{position % 10}")
    right = max((series[name][:, 0].max() for name in methods), default=0.0) * 100
    axes.set_xlim(0.0, right if right > 0 else 50.0)
    if baseline is not None:
        _, mean, std = series[baseline][0]
        axes.axhspan(mean - std, mean + std, color="0.5", alpha=0.2, linewidth=0)
        axes.axhline(mean, color="black", linestyle="--", linewidth=1.2,
                     label=f"{baseline} (\u00b11 std)")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    return save_png(figure, out_png)


def check_results(results) -> dict[str, np.ndarray]:
    """Validate the ``results`` of :func:`pruning_curve`.

    Parameters
    ----------
    results:
        Method name -> sequence of ``(fraction_pruned, mean, std)`` tuples.

    Returns
    -------
    dict[str, numpy.ndarray]
        The same methods in the same order, each an ``(n, 3)`` float64 array of
        ``(fraction, mean, std)`` rows sorted by fraction.

    Raises
    ------
    ReidPruneError
        See :func:`pruning_curve`.
    """
    if not isinstance(results, Mapping) or not results:
        raise ReidPruneError("results must be a non-empty dict of method name -> list of "
                             f"(fraction_pruned, mean, std) tuples, got {results!r}")
    series = {}
    for name, points in results.items():
        if not isinstance(name, str) or not name.strip():
            raise ReidPruneError(f"method names must be non-empty strings, got {name!r}")
        rows = np.array([_check_point(name, point) for point in _check_points(name, points)])
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
        repeated = rows[1:, 0][np.diff(rows[:, 0]) == 0]
        if len(repeated):
            raise ReidPruneError(f"method {name!r} has fraction {repeated[0]:g} more than once; "
                                 "give one (fraction, mean, std) per fraction (average the seeds)")
        if _is_baseline(name) and (len(rows) != 1 or rows[0, 0] != 0.0):
            raise ReidPruneError(f"{name!r} must hold exactly one (0.0, mean, std) tuple, got "
                                 f"{len(rows)} point(s) at fractions {rows[:, 0].tolist()}")
        series[name] = rows
    return series


def _check_points(name: str, points) -> Sequence:
    if isinstance(points, (str, bytes)) or not isinstance(points, Sequence) or not points:
        raise ReidPruneError(f"method {name!r}: expected a non-empty list of "
                             f"(fraction_pruned, mean, std) tuples, got {points!r}")
    return points


def _check_point(name: str, point) -> tuple[float, float, float]:
    if isinstance(point, (str, bytes)) or not isinstance(point, Sequence) or len(point) != 3:
        raise ReidPruneError(f"method {name!r}: {point!r} is not a (fraction_pruned, mean, std) "
                             "tuple of three numbers")
    values = []
    for what, value in zip(("fraction", "mean", "std"), point):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                or not math.isfinite(float(value)):
            raise ReidPruneError(f"method {name!r}: {what} {value!r} in {point!r} is not a "
                                 "finite number")
        values.append(float(value))
    fraction, _, std = values
    if not 0.0 <= fraction < 1.0:
        raise ReidPruneError(f"method {name!r}: fraction pruned {fraction!r} is outside [0, 1); "
                             "give fractions, not percentages (0.2 for 20%)")
    if std < 0:
        raise ReidPruneError(f"method {name!r}: std {std!r} is negative")
    return fraction, values[1], std


def _is_baseline(name: str) -> bool:
    return name.strip().lower() == NO_PRUNING


def _draw_method(axes, rows: np.ndarray, name: str, colour: str) -> None:
    percent, mean, std = rows[:, 0] * 100, rows[:, 1], rows[:, 2]
    axes.plot(percent, mean, marker="o", markersize=4, color=colour, label=name)
    axes.fill_between(percent, mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)


def check_dpi(dpi) -> int:
    """``dpi`` as an int in ``1..MAX_DPI``, or a :class:`ReidPruneError`."""
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 1 <= dpi <= MAX_DPI:
        raise ReidPruneError(f"dpi must be an integer between 1 and {MAX_DPI}, got {dpi!r}")
    return int(dpi)


def new_figure(size_in: tuple[float, float], dpi: int) -> Figure:
    """A white figure of ``size_in`` inches on an Agg canvas (no pyplot, no window).

    Parameters
    ----------
    size_in:
        ``(width, height)`` in inches; multiples of 1/4 inch give exact pixel sizes.
    dpi:
        Resolution the figure is rendered at.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ReidPruneError
        When a side would exceed :data:`MAX_PIXELS`.
    """
    pixels = max(size_in) * dpi
    if pixels > MAX_PIXELS:
        raise ReidPruneError(f"the figure would be {pixels:.0f} pixels wide or tall, more than "
                             f"{MAX_PIXELS}; show fewer images per row or lower the dpi")
    figure = Figure(figsize=size_in, dpi=dpi, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, out_png: str | os.PathLike) -> Path:
    """Render ``figure`` at its own size and dpi and write it as PNG, atomically.

    Parameters
    ----------
    figure:
        From :func:`new_figure`.
    out_png:
        Destination file; a failure leaves no partial file behind.

    Returns
    -------
    Path
        ``out_png``.
    """
    out_png = Path(out_png)
    if out_png.is_dir():
        raise ReidPruneError(f"{out_png} is a folder; give a file name such as "
                             f"{out_png / 'figure.png'}")
    with atomic_path(out_png) as tmp:
        # print_png renders at figure.dpi and skips savefig's bbox handling, so a user's
        # "savefig.bbox: tight" cannot change the pixel size.
        FigureCanvasAgg(figure).print_png(tmp)
    return out_png
