"""From a sweep's SQLite file to its summary: JSON, a Markdown table, the cost ledger and figures.

Every point is the mean and the sample standard deviation (ddof = 1; 0 for one seed) over the
seeds of the finished cells with the same settings. Writes, beside the SQLite file unless told
otherwise:

* ``sweep_summary.json``: the points, the cost ledger and the fixed setup;
* ``sweep_table.md``: (rank-1 + mAP)/2 per fraction and method (one table per noise ratio), each
  method's paired difference to random pruning and to the unpruned model (same retraining seed,
  mean and 95% t-interval; :func:`paired_differences`) and the cost ledger;
* ``sweep_curves[_noise{r}].png/.svg``: (rank-1 + mAP)/2 against fraction pruned, the unpruned
  model dashed (the paper's Fig. 4 / 8);
* ``sweep_noise.png/.svg`` (with two or more noise ratios): against the noise ratio (Fig. 7).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from reidprune.atomic import write_json
from reidprune.errors import ReidPruneError
from reidprune.experiments.db import SweepDB
from reidprune.experiments.grid import BASELINE

#: Settings that make a point (beside the seed, over which points average).
POINT_KEYS = ("method", "fraction", "noise", "score_epochs", "every", "delta")
METRICS = ("score", "rank1", "mAP", "mINP", "fraction_removed", "kept", "iterations", "train_seconds")


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1), std 0 for a single value."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def summarize(rows: list[dict]) -> list[dict]:
    """One point per setting: ``seeds``, and ``{metric}_mean`` / ``{metric}_std`` for :data:`METRICS`."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in POINT_KEYS)].append(row)
    points = []
    for key, members in groups.items():
        point = dict(zip(POINT_KEYS, key))
        point["seeds"] = sorted(r["seed"] for r in members)
        for metric in METRICS:
            values = [r[metric] for r in members if r[metric] is not None]
            if values:
                point[f"{metric}_mean"], point[f"{metric}_std"] = (round(v, 4) for v in mean_std(values))
        points.append(point)
    return sorted(points, key=lambda p: (p["noise"], p["method"] != BASELINE, p["method"], _label_extra(p),
                                         p["fraction"]))


def paired_differences(rows: list[dict], reference: str = "random", metric: str = "score") -> list[dict]:
    """Each method's difference to ``reference`` at the same fraction, noise and retraining seed.

    Seeds change the retraining (and random pruning's subset) alike for every method, so the
    difference of two methods on one seed removes most of the seed-to-seed spread. With
    ``reference = BASELINE`` (the unpruned model) every fraction is compared with the one unpruned
    run of its seed.

    Returns
    -------
    One dict per (method and settings, fraction): ``n`` (paired seeds), ``mean``, ``low`` / ``high``
    (the 95% interval of the mean difference, Student's t; None for one seed), ``diffs`` by seed.
    """
    from scipy import stats

    def pair(row: dict) -> tuple:  # what a row is compared on (the unpruned run has one fraction, 0)
        return row["noise"], row["seed"], None if reference == BASELINE else row["fraction"]

    base = {pair(r): r[metric] for r in rows if r["method"] == reference and r[metric] is not None}
    groups: dict[tuple, dict[int, float]] = defaultdict(dict)
    for row in rows:
        if row["method"] in (reference, BASELINE) or row[metric] is None:
            continue
        other = base.get(pair(row))
        if other is not None:
            groups[tuple(row[k] for k in POINT_KEYS)][row["seed"]] = row[metric] - other
    out = []
    for point_key, diffs in groups.items():
        values = np.array([diffs[s] for s in sorted(diffs)])
        mean = float(values.mean())
        low = high = None
        if len(values) > 1:
            half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
            low, high = round(mean - half, 4), round(mean + half, 4)
        out.append({**dict(zip(POINT_KEYS, point_key)), "reference": reference, "n": len(values),
                    "mean": round(mean, 4), "low": low, "high": high,
                    "diffs": {int(s): round(float(d), 4) for s, d in sorted(diffs.items())}})
    return sorted(out, key=lambda d: (d["noise"], d["method"], _label_extra(d), d["fraction"]))


def paired_table(differences: list[dict], title: str) -> list[str]:
    """Markdown lines: method x fraction, the mean paired difference and its 95% interval."""
    if not differences:
        return []
    fractions = sorted({d["fraction"] for d in differences})
    methods = list(dict.fromkeys(d["method"] for d in differences))
    lines = [title, "", "| method | " + " | ".join(f"{f:.0%}" for f in fractions) + " |",
             "|---" * (len(fractions) + 1) + "|"]
    for method in methods:
        cells = []
        for fraction in fractions:
            match = [d for d in differences if d["method"] == method and d["fraction"] == fraction]
            cells.append(_fmt_diff(match[0]) if match else "")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines + [""]


def _fmt_diff(d: dict) -> str:
    interval = "" if d["low"] is None else f" [{d['low']:+.2f}, {d['high']:+.2f}]"
    return f"{d['mean']:+.2f}{interval} ({d['n']})"


def series_label(point: dict, varying: set[str]) -> str:
    """``method`` plus the settings that vary within the sweep (e.g. ``entropy+purify T=6``)."""
    parts = [point["method"]] + [f"{short}={point[k]:g}" for k, short in
                                 (("score_epochs", "T"), ("every", "every"), ("delta", "delta"))
                                 if k in varying and point[k] is not None]
    return " ".join(parts)


def _label_extra(point: dict) -> tuple:
    return tuple(-1 if point[k] is None else point[k] for k in ("score_epochs", "every", "delta"))


def varying_settings(points: list[dict]) -> set[str]:
    return {k for k in ("score_epochs", "every", "delta") if len({p[k] for p in points if p[k] is not None}) > 1}


def cost_ledger(rows: list[dict], setup: dict) -> dict:
    """Scoring cost of each method against one full training, and the training time saved per fraction.

    The full training is the unpruned baseline (noise-free cells where there are any): its epochs
    and its mean retraining seconds. A method's scoring cost is summed over the distinct runs it
    needs (methods sharing a run pay it once) and averaged over its scoring settings. The time
    saved at a fraction is 1 - (mean retraining seconds of its cells) / (full training seconds).
    """
    baselines = [r for r in rows if r["method"] == BASELINE]
    clean = [r for r in baselines if r["noise"] == 0] or baselines
    full_epochs = (setup.get("retrain_config") or {}).get("epochs")
    full = {"epochs": full_epochs,
            "seconds": round(mean_std([r["train_seconds"] for r in clean])[0], 2) if clean else None,
            "iterations": round(mean_std([r["iterations"] for r in clean])[0], 1) if clean else None}
    methods: dict[str, dict] = {}
    for method in sorted({r["method"] for r in rows} - {BASELINE}):
        mine = [r for r in rows if r["method"] == method]
        per_file = {}
        for r in mine:
            per_file[r["scores_file"]] = _run_cost(r["score_cost"] or {})
        epochs = mean_std([c[0] for c in per_file.values()])[0]
        seconds = mean_std([c[1] for c in per_file.values()])[0]
        saved = {}
        for fraction in sorted({r["fraction"] for r in mine}):
            at = [r for r in mine if r["fraction"] == fraction]
            train_s = mean_std([r["train_seconds"] for r in at])[0]
            saved[f"{fraction:g}"] = {
                "train_seconds": round(train_s, 2),
                "iterations": round(mean_std([r["iterations"] for r in at])[0], 1),
                "time_saved": round(1 - train_s / full["seconds"], 4) if full["seconds"] else None,
                "iterations_saved": round(1 - mean_std([r["iterations"] for r in at])[0] / full["iterations"], 4)
                if full["iterations"] else None}
        methods[method] = {
            "score_epochs": round(epochs, 2), "score_seconds": round(seconds, 2),
            "epochs_vs_full": round(epochs / full_epochs, 4) if full_epochs else None,
            "seconds_vs_full": round(seconds / full["seconds"], 4) if full["seconds"] else None,
            "by_fraction": saved}
    return {"full_training": full, "methods": methods}


def _run_cost(costs: dict) -> tuple[float, float]:
    """(epochs, seconds) of the runs behind ``costs`` ({method: cost}); shared runs counted once."""
    runs: dict[str, tuple[float, float]] = {}
    for name, cost in costs.items():
        run = cost.get("shared_run", name)
        epochs, seconds = float(cost.get("epochs", 0)), float(cost.get("seconds", 0.0))
        old = runs.get(run, (0.0, 0.0))
        runs[run] = (max(old[0], epochs), max(old[1], seconds))
    return sum(e for e, _ in runs.values()), sum(s for _, s in runs.values())


def markdown(points: list[dict], ledger: dict, setup: dict, differences: dict | None = None) -> str:
    varying = varying_settings(points)
    lines = [f"Sweep on {setup.get('dataset', '?')} ({setup.get('train_images', '?')} training images): "
             "(rank-1 + mAP)/2, mean \u00b1 std over seeds (n = seeds).", ""]
    for noise in sorted({p["noise"] for p in points}):
        here = [p for p in points if p["noise"] == noise]
        labels = list(dict.fromkeys(series_label(p, varying) for p in here if p["method"] != BASELINE))
        fractions = sorted({p["fraction"] for p in here})
        lines += [f"**noise ratio {noise:g}**", "", "| pruned | " + " | ".join(["no pruning"] + labels) + " |",
                  "|---" * (len(labels) + 2) + "|"]
        for fraction in fractions:
            cells = []
            for label in [None] + labels:
                match = [p for p in here if p["fraction"] == fraction and
                         (p["method"] == BASELINE if label is None else
                          p["method"] != BASELINE and series_label(p, varying) == label)]
                cells.append(_fmt(match[0]) if match else "")
            lines.append(f"| {fraction:.0%} | " + " | ".join(cells) + " |")
        lines.append("")
    for reference, title in (("random", "**Paired difference to random pruning** (same fraction and retraining "
                                        "seed): mean [95% t-interval] (n seeds); above 0 = ahead of random"),
                             (BASELINE, "**Paired difference to the unpruned model** (same retraining seed): "
                                        "mean [95% t-interval] (n seeds)")):
        lines += paired_table((differences or {}).get(reference, []), title)
    full = ledger["full_training"]
    fractions = sorted({f for m in ledger["methods"].values() for f in m["by_fraction"]}, key=float)
    lines += ["**Cost ledger**: scoring cost against one full (unpruned) training of "
              f"{full['epochs']} epochs, {_num(full['seconds'])} s; training time saved at each fraction "
              "(1 - retraining seconds / full training seconds; in brackets the iterations saved, which "
              "do not depend on the machine's load).", "",
              "| method | scoring epochs | scoring s | epochs / full | time / full | "
              + " | ".join(f"saved at {float(f):.0%}" for f in fractions) + " |",
              "|---" * (len(fractions) + 5) + "|"]
    for method, m in ledger["methods"].items():
        saved = [_saved(m["by_fraction"].get(f)) for f in fractions]
        lines.append(f"| {method} | {m['score_epochs']:g} | {m['score_seconds']:.1f} | {_num(m['epochs_vs_full'])} | "
                     f"{_num(m['seconds_vs_full'])} | " + " | ".join(saved) + " |")
    return "\n".join(lines) + "\n"


def _saved(entry: dict | None) -> str:
    if not entry or entry["time_saved"] is None:
        return ""
    iterations = entry.get("iterations_saved")
    return f"{entry['time_saved']:.0%}" + (f" ({iterations:.0%} it.)" if iterations is not None else "")


def _fmt(point: dict) -> str:
    return f"{point['score_mean']:.2f} \u00b1 {point['score_std']:.2f} ({len(point['seeds'])})"


def _num(value) -> str:
    return "?" if value is None else f"{value:.2f}"


def write_sweep_report(db_path: str | Path, out_dir: str | Path | None = None, dpi: int = 100) -> list[Path]:
    """Write the summary JSON, the Markdown table and the figures of the sweep in ``db_path``.

    Parameters
    ----------
    db_path: a ``sweep.sqlite`` written by ``reidprune sweep``.
    out_dir: where to write (default: the SQLite file's folder).
    dpi: PNG resolution.

    Returns
    -------
    The files written.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise ReidPruneError(f"sweep file {db_path} does not exist; run `reidprune sweep` first")
    with SweepDB(db_path) as db:
        rows, setup, scorings = db.cells(), db.setup(), db.scorings()
    if not rows:
        raise ReidPruneError(f"{db_path} holds no finished cells yet")
    out_dir = Path(out_dir) if out_dir else db_path.parent
    points = summarize(rows)
    ledger = cost_ledger(rows, setup)
    differences = {reference: paired_differences(rows, reference) for reference in ("random", BASELINE)}
    written = [out_dir / "sweep_summary.json", out_dir / "sweep_table.md"]
    write_json(written[0], {"setup": setup, "points": points, "cost_ledger": ledger, "cells": len(rows),
                            "scorings": scorings, "std": "sample standard deviation over seeds (ddof=1)",
                            "paired": differences})
    written[1].parent.mkdir(parents=True, exist_ok=True)
    written[1].write_text(markdown(points, ledger, setup, differences))
    written += _figures(points, setup, out_dir, dpi)
    return written


def _figures(points: list[dict], setup: dict, out_dir: Path, dpi: int) -> list[Path]:
    from reidprune.report.sweep_plots import sweep_figure

    varying = varying_settings(points)
    noises = sorted({p["noise"] for p in points})
    config = setup.get("retrain_config") or {}
    what = f"{setup.get('train_images', '?')} images, {config.get('backbone', '?')} " \
           f"{config.get('height', '?')}x{config.get('width', '?')}, {config.get('epochs', '?')} epochs"
    written = []
    for noise in noises:
        here = [p for p in points if p["noise"] == noise]
        series: dict[str, list] = defaultdict(list)
        for p in here:
            if p["method"] != BASELINE:
                series[series_label(p, varying)].append((100 * p["fraction"], p["score_mean"], p["score_std"]))
        base = [p for p in here if p["method"] == BASELINE]
        baseline = (base[0]["score_mean"], base[0]["score_std"]) if base else None
        seeds = max(len(p["seeds"]) for p in here)
        stem = out_dir / ("sweep_curves" if len(noises) == 1 else f"sweep_curves_noise{noise:g}")
        written += sweep_figure(series, stem, baseline, title=f"{what}; noise {noise:g}; up to {seeds} seeds",
                                dpi=dpi)
    if len(noises) > 1:
        series = defaultdict(list)
        baseline = []
        for p in points:
            row = (100 * p["noise"], p["score_mean"], p["score_std"])
            if p["method"] == BASELINE:
                baseline.append(row)
            else:
                series[f"{series_label(p, varying)} @ {p['fraction']:.0%}"].append(row)
        series = {k: v for k, v in series.items() if len(v) > 1}
        written += sweep_figure(series, out_dir / "sweep_noise", np.array(baseline) if baseline else None,
                                title=f"{what}: against label noise", xlabel="label noise ratio (%)", dpi=dpi)
    return written
