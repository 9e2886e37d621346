"""``reidprune report``: the pictures of what a ``prune`` output flagged."""
from __future__ import annotations

import json
from pathlib import Path

from reidprune.errors import ReidPruneError
from reidprune.export.manifest import read_manifest
from reidprune.validation.paths import prepare_output_folder
from reidprune.report.gallery import entropy_histogram, flagged_gallery, identity_strips
from reidprune.report.html import outlier_threshold_of, write_html_report
from reidprune.select.defaults import PAPER_DELTA


def write_report(folder: str | Path, data: str | Path, delta: float | None = None, per_group: int = 12, seed: int = 0,
                 scores: str | Path | None = None, progress: bool = True) -> list[Path]:
    """The offline HTML report, flagged.png, identities.png and scores.png in ``folder``.

    Parameters
    ----------
    folder: a ``prune`` output (with manifest.csv); the report goes in it.
    data: the dataset folder the manifest's paths are relative to.
    delta: the outlier threshold to mark on the histograms; None = the one the selection applied
        (``selection.json``), else the paper's 0.10.
    per_group: images per row of the gallery.
    seed: which images the galleries sample.
    scores: the scores.npz the selection was made from (soft-label bars), None = ``folder``'s if any.
    progress: show a progress bar while thumbnails are made.

    Returns
    -------
    The files written.
    """
    folder, data = prepare_output_folder(folder, "FOLDER"), Path(data)
    manifest = read_manifest(folder / "manifest.csv")
    report = folder / "report"
    if report.is_symlink() or (report.exists() and not report.is_dir()):
        raise ReidPruneError(f"{report} is a symbolic link or a file, not a report folder: the report replaces "
                             "that folder, so move or delete it first")
    if delta is None:
        summary = folder / "selection.json"
        applied = outlier_threshold_of(json.loads(summary.read_text(encoding="utf-8"))) if summary.is_file() else None
        delta = applied if applied is not None else PAPER_DELTA
    return [write_html_report(folder, data, scores, progress=progress),
            flagged_gallery(manifest, data, folder / "flagged.png", per_group=per_group, seed=seed),
            identity_strips(manifest, data, folder / "identities.png", seed=seed),
            entropy_histogram(manifest, folder / "scores.png", delta=delta)]
