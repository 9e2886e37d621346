"""``reidprune report``: the pictures of what a ``prune`` output flagged."""
from __future__ import annotations

from pathlib import Path

from reidprune.export.manifest import read_manifest
from reidprune.pipeline.checks import prepare_output_folder
from reidprune.report.gallery import entropy_histogram, flagged_gallery, identity_strips
from reidprune.report.html import write_html_report


def write_report(folder: str | Path, data: str | Path, delta: float = 0.10, per_group: int = 12, seed: int = 0,
                 scores: str | Path | None = None) -> list[Path]:
    """The offline HTML report, flagged.png, identities.png and scores.png in ``folder``.

    Parameters
    ----------
    folder: a ``prune`` output (with manifest.csv); the report goes in it.
    data: the dataset folder the manifest's paths are relative to.
    delta: the outlier threshold to mark on the histograms.
    per_group: images per row of the gallery.
    seed: which images the galleries sample.
    scores: the scores.npz the selection was made from (soft-label bars), None = ``folder``'s if any.

    Returns
    -------
    The files written.
    """
    folder, data = prepare_output_folder(folder, "FOLDER"), Path(data)
    manifest = read_manifest(folder / "manifest.csv")
    return [write_html_report(folder, data, scores),
            flagged_gallery(manifest, data, folder / "flagged.png", per_group=per_group, seed=seed),
            identity_strips(manifest, data, folder / "identities.png", seed=seed),
            entropy_histogram(manifest, folder / "scores.png", delta=delta)]
