"""Figures of a pruning sweep (PNG + SVG): accuracy against fraction pruned or noise ratio.

Points are ``(x, mean, std)`` over seeds; each series is a line with a shaded mean +/- std band,
the unpruned model a dashed line (a constant with its band, or a dashed series when it varies
with x, as against the noise ratio).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from reidprune.atomic import atomic_path
from reidprune.errors import ReidPruneError
from reidprune.report.curves import CURVE_SIZE_IN, check_dpi, new_figure, save_png


def sweep_figure(series: Mapping[str, np.ndarray], out_stem: str | os.PathLike, baseline=None,
                 title: str = "", xlabel: str = "fraction of dataset pruned (%)",
                 ylabel: str = "(rank-1 + mAP) / 2", dpi: int = 100) -> list[Path]:
    """Draw one line per series and write ``out_stem.png`` and ``out_stem.svg``.

    Parameters
    ----------
    series: label -> ``(n, 3)`` array of ``(x, mean, std)`` rows; x in percent.
    out_stem: output path without suffix.
    baseline: the unpruned model: ``(mean, std)`` (a horizontal dashed line with its band), an
        ``(n, 3)`` array (a dashed series) or ``None``.
    title, xlabel, ylabel: texts of the figure.
    dpi: PNG resolution (the SVG is vector).

    Returns
    -------
    The PNG and SVG paths.
    """
    if not series and baseline is None:
        raise ReidPruneError(f"nothing to draw for {out_stem}: no finished cells")
    figure = new_figure(CURVE_SIZE_IN, check_dpi(dpi))
    axes = figure.add_axes((0.12, 0.13, 0.84, 0.78 if title else 0.82))
    for position, (label, rows) in enumerate(series.items()):
        rows = _rows(label, rows)
        colour = f"C{position % 10}"
        axes.plot(rows[:, 0], rows[:, 1], marker="o", markersize=4, color=colour, label=label)
        axes.fill_between(rows[:, 0], rows[:, 1] - rows[:, 2], rows[:, 1] + rows[:, 2], color=colour, alpha=0.2,
                          linewidth=0)
    if baseline is not None:
        if np.ndim(baseline) == 1:
            mean, std = baseline
            axes.axhspan(mean - std, mean + std, color="0.5", alpha=0.2, linewidth=0)
            axes.axhline(mean, color="black", linestyle="--", linewidth=1.2, label="no pruning (\u00b11 std)")
        else:
            rows = _rows("no pruning", baseline)
            axes.plot(rows[:, 0], rows[:, 1], color="black", linestyle="--", marker="s", markersize=3,
                      label="no pruning")
            axes.fill_between(rows[:, 0], rows[:, 1] - rows[:, 2], rows[:, 1] + rows[:, 2], color="0.5",
                              alpha=0.2, linewidth=0)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    stem = Path(out_stem)  # may hold dots (sweep_curves_noise0.2): append, never replace, a suffix
    png = save_png(figure, stem.parent / f"{stem.name}.png")
    svg = stem.parent / f"{stem.name}.svg"
    with atomic_path(svg) as tmp:
        figure.savefig(tmp, format="svg")
    return [png, svg]


def _rows(label: str, rows) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != 3 or not len(rows) or not np.isfinite(rows).all():
        raise ReidPruneError(f"series {label!r}: expected finite (x, mean, std) rows, got shape {rows.shape}")
    return rows[np.argsort(rows[:, 0], kind="stable")]
