"""An HTML report of what selection flagged: one folder, viewable offline (no network, no CDN).

``write_html_report(prune_output, dataset_root)`` writes ``prune_output/report/``::

    index.html        summary, histograms (inline SVG), one section per decision kind
    thumbs/<i>.jpg    a small JPEG of every training image shown (``i`` = manifest index)
    data/<s>-<p>.js   page ``p`` of section ``s``: ``reidprunePage("s", p, [...items])``

Sections: outliers (least confident first); relabelled, each with its given and proposed
identity, the soft label's top-3 identities as bars and two example images of the proposed
identity (the paper's Fig. 3); pruned easiest; hardest kept; and one row per identity from its
easiest image to its hardest (the paper's Figs. 16-19). Pages are loaded on demand by a small
inline script through ``<script>`` tags (``fetch`` of a local file is blocked by browsers), and
images load lazily, so a 30k-image set opens as fast as a small one.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from reidprune import __version__
from reidprune.atomic import write_text
from reidprune.errors import ReidPruneError
from reidprune.export.manifest import Manifest, read_manifest
from reidprune.report.common import (
    STATUS_COLOURS,
    assigned_ids,
    check_positive_int,
    histogram_counts,
    image_path,
    ordered_rows,
    spread_positions,
)
from reidprune.progress import progress as progress_bar
from reidprune.scores.entropy import soft_labels
from reidprune.scores.store import ScoreSet
from reidprune.select.calibration import PATTERN_WHY, bound_only
from reidprune.select.selection import KEPT, OUTLIER, PRUNED, RELABELLED, STATUSES

#: Thumbnails are shrunk to fit this box (width, height) in pixels.
THUMB_PX = (64, 128)
#: Section keys and titles, in page order.
SECTIONS = {"outliers": "Outliers (removed)", "relabelled": "Relabelled",
            "pruned": "Pruned (easiest first)", "hardest": "Kept (hardest first)",
            "identities": "Identities, easy to hard"}


def write_html_report(folder: str | os.PathLike, dataset_root: str | os.PathLike,
                      scores: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
                      per_page: int = 48, extremes: int = 96, per_identity: int = 10,
                      identities_per_page: int = 20, delta: float | None = None, progress: bool = True) -> Path:
    """Write the HTML report of a ``reidprune prune`` output folder.

    Parameters
    ----------
    folder:
        The prune output (``manifest.csv``; ``selection.json`` is read when present).
    progress:
        Show a progress bar while the thumbnails are made.
    dataset_root:
        The dataset folder the manifest paths are relative to.
    scores:
        The ``scores.npz`` the selection was made from, for the soft labels' top-3 identities
        and the training settings; default ``folder/scores.npz`` when it exists. Without it the
        relabelled section shows no bars.
    out:
        The report folder; default ``folder/report``. Replaced whole if it exists.
    per_page:
        Images per page of the image sections.
    extremes:
        How many of the easiest pruned and of the hardest kept images to show.
    per_identity:
        Images per identity row, spread evenly from its easiest to its hardest.
    identities_per_page:
        Identity rows per page.
    delta:
        Outlier threshold marked on the max-score histogram; default the one in
        ``selection.json`` (when absolute).

    Returns
    -------
    Path
        The written ``index.html``.

    Raises
    ------
    ReidPruneError
        For a missing manifest, a scores file that does not cover the manifest's images, an
        image that cannot be read, or invalid parameters.
    """
    folder, root = Path(folder), Path(dataset_root).expanduser()
    for value, name in ((per_page, "per_page"), (extremes, "extremes"), (per_identity, "per_identity"),
                        (identities_per_page, "identities_per_page")):
        check_positive_int(value, name)
    if not root.is_dir():
        raise ReidPruneError(f"dataset root {root} is not a folder; give the dataset the prune output was made from")
    manifest = read_manifest(folder / "manifest.csv")
    if len(manifest) == 0:
        raise ReidPruneError(f"{manifest.source} has no rows; nothing to report")
    summary = _read_json(folder / "selection.json")
    scores_path = Path(scores) if scores is not None else folder / "scores.npz"
    score_set = ScoreSet.load(scores_path) if scores is not None or scores_path.is_file() else None
    top = top_identities(score_set, manifest, k=3) if score_set is not None else None
    if delta is None:
        delta = outlier_threshold_of(summary)

    sections = build_sections(manifest, top, extremes, per_identity)
    out = Path(out) if out is not None else folder / "report"
    if out.exists():
        shutil.rmtree(out)
    (out / "data").mkdir(parents=True)
    _write_thumbnails(manifest, root, _shown_rows(sections), out / "thumbs", progress)
    pages = {}
    for key, items in sections.items():
        size = identities_per_page if key == "identities" else per_page
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        pages[key] = {"pages": len(chunks), "items": len(items)}
        for number, chunk in enumerate(chunks):
            payload = json.dumps(chunk, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
            write_text(out / "data" / f"{key}-{number}.js", f'reidprunePage("{key}",{number},{payload});\n')
    html = _environment().get_template("report.html").render(
        summary=summary_rows(manifest, summary, score_set), sections=SECTIONS, pages=pages,
        histograms=[histogram_svg(manifest.entropy, manifest.status, "soft-label entropy H (bits)", None),
                    histogram_svg(manifest.max_score, manifest.status, "max soft-label score", delta,
                                  edges=np.linspace(0, 1, 31))],
        colours=STATUS_COLOURS, statuses=STATUSES, version=__version__, warnings=summary.get("warnings", []),
        notes=summary.get("notes", []))
    write_text(out / "index.html", html)
    return out / "index.html"


# ---------------------------------------------------------------------------------------------
# Data


def top_identities(scores: ScoreSet, manifest: Manifest, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most likely identities of each image's soft label and their probabilities.

    Parameters
    ----------
    scores:
        Scores with the ``entropy`` method's ``mean_logits``, covering the manifest's images in
        the same order.
    manifest:
        The manifest the report is made of.
    k:
        How many identities.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        ``(N, k)`` int64 original identities and ``(N, k)`` float64 probabilities, most likely
        first; identity -1 and probability NaN where no soft label was recorded.
    """
    if "entropy" not in scores.methods or "mean_logits" not in scores["entropy"].extras:
        raise ReidPruneError("the scores file has no soft labels (method entropy); score with -m entropy")
    if not np.array_equal(np.asarray(scores.paths, dtype=str), manifest.path):
        raise ReidPruneError(f"the scores do not cover the images of {manifest.source} in the same order; "
                             "give the scores.npz the prune output was made from (--scores)")
    mean = scores["entropy"].extras["mean_logits"].astype(np.float64)
    recorded = np.isfinite(mean).all(1)
    probs = soft_labels(np.where(recorded[:, None], mean, 0.0))
    k = min(k, probs.shape[1])
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    ids = np.where(recorded[:, None], np.asarray(scores.classes)[order], -1).astype(np.int64)
    values = np.where(recorded[:, None], np.take_along_axis(probs, order, axis=1), np.nan)
    return ids, values


def build_sections(manifest: Manifest, top: tuple[np.ndarray, np.ndarray] | None, extremes: int,
                   per_identity: int) -> dict[str, list]:
    """Every section's items in display order, as JSON-ready dicts.

    Image items: ``i`` (manifest index), ``p`` (path), ``id`` (given identity), ``c``
    (corrected identity), ``h`` entropy, ``m`` max score (None when not computed), ``s`` status.
    Relabelled items add ``n`` (proposed identity), ``top`` (``[[identity, probability], ...]``)
    and ``ex`` (indices of up to two images of the proposed identity: kept, not relabelled,
    lowest entropy first). Identity items: ``id``, ``n`` (its images), ``items`` (image items
    spread from easiest to hardest).
    """
    status, given = manifest.status, assigned_ids(manifest)

    def item(i: int) -> dict:
        return {"i": i, "p": str(manifest.path[i]), "id": int(given[i]), "c": int(manifest.corrected_id[i]),
                "h": _finite(manifest.entropy[i]), "m": _finite(manifest.max_score[i]), "s": str(status[i])}

    examples = typical_images(manifest)
    relabelled = []
    for i in ordered_rows(np.flatnonzero(status == RELABELLED), manifest.max_score, descending=True).tolist():
        entry = item(i)
        entry["n"] = int(manifest.corrected_id[i])
        entry["top"] = ([[int(a), _finite(b)] for a, b in zip(top[0][i], top[1][i]) if a >= 0]
                        if top is not None else [])
        entry["ex"] = [int(r) for r in examples.get(entry["n"], [])]
        relabelled.append(entry)
    identities = []
    scored = np.flatnonzero(~np.isnan(manifest.entropy))
    for pid in np.unique(manifest.original_id).tolist():
        rows = ordered_rows(np.flatnonzero(manifest.original_id == pid), manifest.entropy, descending=False)
        rows = rows[np.isin(rows, scored)] if len(scored) else rows
        shown = rows[spread_positions(len(rows), per_identity)]
        identities.append({"id": int(pid), "n": int((manifest.original_id == pid).sum()),
                           "items": [item(i) for i in shown.tolist()]})
    return {
        "outliers": [item(i) for i in ordered_rows(np.flatnonzero(status == OUTLIER), manifest.max_score,
                                               descending=False).tolist()],
        "relabelled": relabelled,
        "pruned": [item(i) for i in ordered_rows(np.flatnonzero(status == PRUNED), manifest.entropy,
                                             descending=False)[:extremes].tolist()],
        "hardest": [item(i) for i in ordered_rows(np.flatnonzero(status == KEPT), manifest.entropy,
                                              descending=True)[:extremes].tolist()],
        "identities": identities,
    }


def typical_images(manifest: Manifest) -> dict[int, np.ndarray]:
    """Identity -> up to two typical images of it (kept with their own label, lowest entropy)."""
    typical = np.flatnonzero((manifest.status == KEPT) & (manifest.corrected_id == manifest.original_id))
    typical = ordered_rows(typical, manifest.entropy, descending=False)
    out: dict[int, list] = {}
    for i in typical.tolist():
        rows = out.setdefault(int(manifest.corrected_id[i]), [])
        if len(rows) < 2:
            rows.append(i)
    return {k: np.array(v) for k, v in out.items()}


def _shown_rows(sections: dict[str, list]) -> set[int]:
    rows: set[int] = set()
    for key, items in sections.items():
        for entry in items:
            if key == "identities":
                rows.update(x["i"] for x in entry["items"])
            else:
                rows.add(entry["i"])
                rows.update(entry.get("ex", []))
    return rows


def _finite(value) -> float | None:
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def _write_thumbnails(manifest: Manifest, root: Path, rows: set[int], folder: Path, progress: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> None:
        with Image.open(image_path(manifest, root, i)) as image:
            image = image.convert("RGB")
            image.thumbnail(THUMB_PX, Image.Resampling.LANCZOS)
            image.save(folder / f"{i}.jpg", quality=85)

    try:
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2))) as pool:
            list(progress_bar(pool.map(one, sorted(rows)), total=len(rows), desc="thumbnails", unit="img",
                              enabled=progress))
    except OSError as exc:
        raise ReidPruneError(f"cannot make a thumbnail: {exc}; check the dataset root") from exc


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReidPruneError(f"{path} is not readable JSON ({exc}); run `reidprune prune` again") from exc


# ---------------------------------------------------------------------------------------------
# Summary and histograms


def summary_rows(manifest: Manifest, summary: dict, scores: ScoreSet | None) -> list[tuple[str, str]]:
    """``(label, value)`` rows of the report's summary table."""
    counts = {s: int((manifest.status == s).sum()) for s in STATUSES}
    removed = counts[PRUNED] + counts[OUTLIER]
    rows = [("training images", f"{len(manifest)} of {len(np.unique(manifest.original_id))} identities"),
            ("decisions", ", ".join(f"{counts[s]} {s}" for s in STATUSES)),
            ("removed", f"{removed} ({100 * removed / len(manifest):.1f}%)")]
    options = summary.get("options", {})
    if options:
        amount = f"fraction {options['fraction']}" if options.get("fraction") is not None else \
            f"count {options.get('count')}"
        threshold = outlier_threshold_of(summary)
        delta = "none" if threshold is None else f"{threshold:.4g}"
        rows.append(("selection", f"method {options.get('method')}, {amount}, purify {options.get('purify')}, "
                                  f"outlier threshold {delta}, relabel {options.get('relabel', 'all')}, "
                                  f"min per id {options.get('min_per_identity')}"))
    quality = summary.get("quality")
    if isinstance(quality, dict):
        about = "at most " if bound_only(quality) else ""
        rows.append(("estimated quality",
                     f"from {quality.get('probes')} probes (known wrong labels in the scoring run): noise rate "
                     f"{about}{quality.get('noise_rate', 0):.1%}, mislabel precision "
                     f"{about}{quality.get('precision', 0):.2f}, "
                     f"recall {quality.get('recall', 0):.2f}, correction {quality.get('correction', 0):.2f}, "
                     f"relabelling {'pays' if quality.get('relabel_pays') else 'does not pay: flagged for review'}"
                     + (f"; judged by the look-alike probes alone, since {quality.get('judged_why') or PATTERN_WHY}"
                        if quality.get("judged_by") == "similar" else "")))
    if summary.get("score_params"):
        rows.append(("score parameters", _plain_dict(summary["score_params"])))
    if summary.get("score_cost"):
        rows.append(("scoring cost", _plain_dict(summary["score_cost"])))
    if scores is not None:
        train = scores.info.get("options", {}).get("train", {})
        if train:
            rows.append(("scoring model", f"{train.get('backbone')} at {train.get('height')}x{train.get('width')}, "
                                          f"{train.get('epochs')} epochs, {train.get('mode')} mode, weights "
                                          f"{train.get('weights') or 'none (from scratch)'}, preset "
                                          f"{scores.info.get('preset', 'n/a')}"))
    if summary.get("dataset"):
        rows.append(("dataset", f"{summary['dataset']} (fingerprint {str(summary.get('fingerprint'))[:12]})"))
    return rows


def outlier_threshold_of(summary: dict) -> float | None:
    """The absolute outlier threshold a selection applied (``selection.json``), None if unknown."""
    if isinstance(summary.get("outlier_threshold"), (int, float)):
        return float(summary["outlier_threshold"])
    options = summary.get("options", {})
    delta = options.get("delta")
    return float(delta) if isinstance(delta, (int, float)) and not options.get("delta_relative") else None


def _plain_dict(values: dict) -> str:
    """``key value, ...`` of the scalar entries; tables and lists (diagnostics, histories, rules) are
    left to selection.json."""
    def show(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    return ", ".join(f"{k.replace('_', ' ')} {show(v)}" for k, v in values.items()
                     if v is not None and not isinstance(v, (dict, list, tuple)))


def histogram_svg(values: np.ndarray, status: np.ndarray, title: str, marker: float | None,
                  edges: np.ndarray | None = None, bins: int = 30, width: int = 460, height: int = 200) -> str:
    """A stacked histogram by status as an inline SVG string (empty panel text when all NaN)."""
    finite = values[~np.isnan(values)]
    pad_left, pad_bottom, pad_top = 36, 30, 18
    head = (f'<svg width="{width}" height="{height}" role="img" '
            f'aria-label="{title}"><text x="{width / 2}" y="13" text-anchor="middle" class="axis">{title}</text>')
    if len(finite) == 0:
        return head + f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">not computed</text></svg>'
    if edges is None:
        edges = np.histogram_bin_edges(finite, bins=bins)
    counts = histogram_counts(values, status, edges)
    total = sum(counts.values())
    top = max(int(total.max()), 1)
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    bar_w = plot_w / len(total)
    parts = [head]
    for b in range(len(total)):
        y = height - pad_bottom
        for s in STATUSES:
            h = counts[s][b] / top * plot_h
            if h > 0:
                y -= h
                parts.append(f'<rect x="{pad_left + b * bar_w:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" '
                             f'height="{h:.1f}" fill="{STATUS_COLOURS[s]}"><title>{s}: {counts[s][b]}</title></rect>')
    base = height - pad_bottom
    parts.append(f'<line x1="{pad_left}" y1="{base}" x2="{width - 8}" y2="{base}" stroke="#444"/>')
    parts.append(f'<text x="{pad_left - 4}" y="{pad_top + 8}" text-anchor="end" class="axis">{top}</text>')
    for x in (edges[0], edges[-1]):
        pos = pad_left + (x - edges[0]) / max(edges[-1] - edges[0], 1e-12) * plot_w
        parts.append(f'<text x="{pos:.1f}" y="{base + 14}" text-anchor="middle" class="axis">{x:.2f}</text>')
    if marker is not None and edges[0] <= marker <= edges[-1]:
        pos = pad_left + (marker - edges[0]) / max(edges[-1] - edges[0], 1e-12) * plot_w
        parts.append(f'<line x1="{pos:.1f}" y1="{pad_top}" x2="{pos:.1f}" y2="{base}" stroke="#000" '
                     f'stroke-dasharray="4 3"/><text x="{pos + 3:.1f}" y="{pad_top + 10}" class="axis">'
                     f'delta {marker:g}</text>')
    return "".join(parts) + "</svg>"


def _environment() -> Environment:
    return Environment(loader=PackageLoader("reidprune.report", "templates"),
                       autoescape=select_autoescape(["html"]))
