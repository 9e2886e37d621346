"""Pictures of what selection flagged, drawn from a manifest (the paper's Figs. 1(c), 3, 16-19).

* :func:`flagged_gallery`: one row per decision (outliers, relabelled, easiest pruned,
  hardest kept), a few thumbnails each, captioned with the score that put them there;
* :func:`identity_strips`: a few identities, each row running from its easiest image
  (lowest entropy) to its hardest, borders coloured by status;
* :func:`entropy_histogram`: entropy and max-score distributions by status, with the
  outlier threshold delta marked.

Which images a figure shows is decided by pure functions (:func:`choose_groups`,
:func:`choose_identities`, :func:`histogram_counts`) so it can be checked without pixels.
Figures have a fixed layout in inches (multiples of 1/4) and are rendered at exactly
``size * dpi`` pixels; see :func:`gallery_size` and :func:`strips_size`.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch
from PIL import Image

from reidprune.data.images import decode_image
from reidprune.errors import ReidPruneError
from reidprune.select.defaults import PAPER_DELTA
from reidprune.export.manifest import Manifest, read_manifest
from reidprune.report.common import (  # noqa: F401  (re-exported: the figures' public helpers)
    STATUS_COLOURS,
    assigned_ids,
    check_positive_int,
    check_seed,
    histogram_counts,
)
from reidprune.report.common import image_path as _image_path
from reidprune.report.common import manifest_name as _where
from reidprune.report.common import ordered_rows as _ordered
from reidprune.report.common import spread_positions as _spread
from reidprune.report.curves import check_dpi, new_figure, save_png
from reidprune.select.selection import KEPT, OUTLIER, PRUNED, RELABELLED, STATUSES

#: Rows of :func:`flagged_gallery`, top to bottom.
GROUPS = ("outliers", "relabelled", "pruned (easiest)", "kept (hardest)")
_GROUP_STATUS = dict(zip(GROUPS, (OUTLIER, RELABELLED, PRUNED, KEPT)))

# Layout in inches. Multiples of 1/4 make ``inches * dpi`` exact in floating point, so the
# rendered size is exactly the documented number of pixels for every integer dpi.
TITLE_IN = 0.5  # band at the top for the title / legend
LABEL_IN = 1.5  # column at the left naming the row
CELL_WIDTH_IN = 1.0  # one thumbnail column
CELL_HEIGHT_IN = 2.25  # one thumbnail row: picture and a two-line caption
_CAPTION_IN = 0.5
_PAD_IN = 0.0625
#: Thumbnails are shrunk to fit this box (width, height) in pixels before drawing, which
#: keeps a 48-image figure light whatever the source resolution.
THUMBNAIL_PX = (128, 256)
#: Size of the :func:`entropy_histogram` figure in inches.
HISTOGRAM_SIZE_IN = (10.0, 4.0)


def gallery_size(per_group: int, dpi: int = 100) -> tuple[int, int]:
    """Pixel size ``(width, height)`` of the PNG :func:`flagged_gallery` writes.

    Parameters
    ----------
    per_group:
        Thumbnails per row.
    dpi:
        Resolution.

    Returns
    -------
    tuple[int, int]
        ``((LABEL_IN + per_group * CELL_WIDTH_IN) * dpi, (TITLE_IN + 4 * CELL_HEIGHT_IN) * dpi)``.
    """
    width, height = _grid_inches(len(GROUPS), per_group)
    return int(width * dpi), int(height * dpi)


def strips_size(rows: int, per_identity: int, dpi: int = 100) -> tuple[int, int]:
    """Pixel size ``(width, height)`` of the PNG :func:`identity_strips` writes.

    Parameters
    ----------
    rows:
        Identities shown (``len(choose_identities(...))``, at most ``identities``).
    per_identity:
        Thumbnails per row.
    dpi:
        Resolution.

    Returns
    -------
    tuple[int, int]
        ``((LABEL_IN + per_identity * CELL_WIDTH_IN) * dpi,
        (TITLE_IN + rows * CELL_HEIGHT_IN) * dpi)``.
    """
    width, height = _grid_inches(rows, per_identity)
    return int(width * dpi), int(height * dpi)


def _grid_inches(rows: int, columns: int) -> tuple[float, float]:
    return LABEL_IN + columns * CELL_WIDTH_IN, TITLE_IN + rows * CELL_HEIGHT_IN


# ---------------------------------------------------------------------------------------------
# Which samples to show


def choose_groups(manifest: Manifest, per_group: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows of the manifest each row of :func:`flagged_gallery` shows, in display order.

    Parameters
    ----------
    manifest:
        From :func:`~reidprune.export.manifest.read_manifest`.
    per_group:
        At most this many samples per group.
    seed:
        Seed of the random sample of relabelled images (used only when there are more than
        ``per_group`` of them).

    Returns
    -------
    dict[str, numpy.ndarray]
        Keys :data:`GROUPS` in order, values int64 manifest rows (= ``index``):

        * ``"outliers"``: status ``outlier``, lowest max score first (the least confident);
        * ``"relabelled"``: status ``relabelled``; all of them when at most ``per_group``,
          else a seeded uniform sample (an unbiased look at the corrections), in row order;
        * ``"pruned (easiest)"``: status ``pruned``, lowest entropy first;
        * ``"kept (hardest)"``: status ``kept``, highest entropy first.

        Ties keep row order; NaN scores ("not computed") come last.
    """
    per_group = check_positive_int(per_group, "per_group")
    seed = check_seed(seed)
    status = manifest.status
    outliers = _ordered(np.flatnonzero(status == OUTLIER), manifest.max_score, descending=False)
    relabelled = np.flatnonzero(status == RELABELLED)
    if len(relabelled) > per_group:
        rng = np.random.default_rng(seed)
        relabelled = np.sort(rng.choice(relabelled, size=per_group, replace=False))
    pruned = _ordered(np.flatnonzero(status == PRUNED), manifest.entropy, descending=False)
    kept = _ordered(np.flatnonzero(status == KEPT), manifest.entropy, descending=True)
    chosen = (outliers, relabelled, pruned, kept)
    return {group: rows[:per_group].astype(np.int64) for group, rows in zip(GROUPS, chosen)}


def choose_identities(manifest: Manifest, identities: int, per_identity: int,
                      seed: int = 0) -> dict[int, np.ndarray]:
    """Identities and images :func:`identity_strips` shows, each row sorted easy to hard.

    Parameters
    ----------
    manifest:
        From :func:`~reidprune.export.manifest.read_manifest`. Images are grouped by
        ``original_id`` (the identity the dataset gives them, as in the paper's Appendix E);
        only images with a computed (non-NaN) entropy count.
    identities:
        At most this many identities (rows).
    per_identity:
        Images per row. An identity "has enough images" when it has at least this many.
    seed:
        Seed of the uniform choice among the identities with enough images.

    Returns
    -------
    dict[int, numpy.ndarray]
        Original id -> int64 manifest rows, in ascending id order. When more identities
        than ``identities`` have enough images, a seeded uniform sample of them; when fewer,
        all of them plus the identities with the most images (ties: smaller id first). An
        identity with more than ``per_identity`` images shows ``per_identity`` of them spread
        evenly over its entropy ranking, always including its easiest and its hardest.

    Raises
    ------
    ReidPruneError
        When no image has a computed entropy.
    """
    identities = check_positive_int(identities, "identities")
    per_identity = check_positive_int(per_identity, "per_identity")
    seed = check_seed(seed)
    scored = np.flatnonzero(~np.isnan(manifest.entropy))
    if len(scored) == 0:
        raise ReidPruneError(f"{_where(manifest)} has no entropy values (all nan); write it with "
                             "the soft-label scores (reidprune prune does) to sort images")
    ids, counts = np.unique(manifest.original_id[scored], return_counts=True)
    enough = ids[counts >= per_identity]
    if len(enough) > identities:
        chosen = np.random.default_rng(seed).choice(enough, size=identities, replace=False)
    else:
        rest = np.flatnonzero(counts < per_identity)
        rest = rest[np.lexsort((ids[rest], -counts[rest]))]  # most images first, then smaller id
        chosen = np.concatenate([enough, ids[rest][:identities - len(enough)]])
    strips = {}
    for pid in np.sort(chosen).tolist():
        rows = scored[manifest.original_id[scored] == pid]
        rows = _ordered(rows, manifest.entropy, descending=False)
        strips[int(pid)] = rows[_spread(len(rows), per_identity)].astype(np.int64)
    return strips


# ---------------------------------------------------------------------------------------------
# Figures


def flagged_gallery(manifest: Manifest | str | os.PathLike, dataset_root: str | os.PathLike | None,
                    out_png: str | os.PathLike, per_group: int = 12, seed: int = 0,
                    dpi: int = 100, pixels: np.ndarray | None = None) -> Path:
    """Draw thumbnails of the outliers, relabelled, easiest pruned and hardest kept images.

    Parameters
    ----------
    manifest:
        A :class:`~reidprune.export.manifest.Manifest` or the path of a ``manifest.csv``.
    dataset_root:
        Folder the manifest paths are relative to (the dataset the manifest was made from).
        Ignored when ``pixels`` is given.
    out_png:
        The PNG file to write (atomically; replaced if it exists; parent folders created).
    per_group:
        Thumbnails per row (see :func:`choose_groups` for which and in what order).
        Captions: outliers ``id`` and max score; relabelled ``assigned id -> corrected id``
        and max score; pruned and kept ``id`` and entropy ``H``. An empty row says "none".
    seed:
        Seed of the relabelled sample (see :func:`choose_groups`).
    dpi:
        Resolution; the image is :func:`gallery_size` ``(per_group, dpi)`` pixels.
    pixels:
        Optional ``N x H x W x 3`` uint8 images of the training split, row ``i`` = manifest
        index ``i``, for datasets kept in one file (CIFAR-100: ``table.split_table("train")
        .pixels``); when given no file is read.

    Returns
    -------
    Path
        ``out_png``.

    Raises
    ------
    ReidPruneError
        For an empty manifest, a ``dataset_root`` that is not a folder, a shown image that is
        missing or unreadable (naming the file and its manifest line), a path that is
        absolute or contains ``..``, or invalid parameters.
    """
    manifest = _as_manifest(manifest)
    groups = choose_groups(manifest, per_group, seed)
    dpi = check_dpi(dpi)
    load = _image_source(manifest, dataset_root, pixels)
    assigned = assigned_ids(manifest)
    figure = new_figure(_grid_inches(len(GROUPS), per_group), dpi)
    counts = {name: int((manifest.status == name).sum()) for name in STATUSES}
    figure.suptitle(f"{len(manifest)} images: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES),
                    y=1 - 0.25 / figure.get_figheight(), va="center", fontsize=11)
    for row, group in enumerate(GROUPS):
        rows = groups[group]
        total = counts[_GROUP_STATUS[group]]
        _row_label(figure, row, f"{group}\n{len(rows)} of {total}")
        if len(rows) == 0:
            _row_note(figure, row, "none")
        for column, i in enumerate(rows.tolist()):
            caption = _gallery_caption(manifest, group, i, assigned[i])
            _thumbnail(figure, row, column, load(i), caption, STATUS_COLOURS[manifest.status[i]])
    return save_png(figure, out_png)


def identity_strips(manifest: Manifest | str | os.PathLike, dataset_root: str | os.PathLike | None,
                    out_png: str | os.PathLike, identities: int = 6, per_identity: int = 8,
                    seed: int = 0, dpi: int = 100, pixels: np.ndarray | None = None) -> Path:
    """Draw a few identities' images sorted from easy to hard (the paper's Figs. 16-19).

    Parameters
    ----------
    manifest:
        A :class:`~reidprune.export.manifest.Manifest` or the path of a ``manifest.csv``;
        needs computed entropies.
    dataset_root:
        Folder the manifest paths are relative to. Ignored when ``pixels`` is given.
    out_png:
        The PNG file to write (atomically; replaced if it exists; parent folders created).
    identities:
        At most this many rows, one identity each (see :func:`choose_identities`).
    per_identity:
        Thumbnails per row, lowest entropy on the left; captioned ``H`` with a border
        coloured by status (:data:`STATUS_COLOURS`).
    seed:
        Seed of the choice of identities.
    dpi:
        Resolution; the image is :func:`strips_size` ``(rows, per_identity, dpi)`` pixels,
        ``rows`` being the number of identities actually shown.
    pixels:
        Optional in-memory images of the training split, as in :func:`flagged_gallery`.

    Returns
    -------
    Path
        ``out_png``.

    Raises
    ------
    ReidPruneError
        As :func:`flagged_gallery`, and when the manifest has no entropy values.
    """
    manifest = _as_manifest(manifest)
    strips = choose_identities(manifest, identities, per_identity, seed)
    dpi = check_dpi(dpi)
    load = _image_source(manifest, dataset_root, pixels)
    figure = new_figure(_grid_inches(len(strips), per_identity), dpi)
    handles = [Patch(facecolor="white", edgecolor=STATUS_COLOURS[s], linewidth=2.5, label=s)
               for s in STATUSES]
    figure.legend(handles=handles, loc="center", ncol=len(STATUSES), frameon=False, fontsize=9,
                  bbox_to_anchor=(0.5, 1 - 0.25 / figure.get_figheight()),
                  title="easy (low entropy H)  \u2192  hard (high H)", title_fontsize=9)
    for row, (pid, rows) in enumerate(strips.items()):
        total = int((manifest.original_id == pid).sum())
        _row_label(figure, row, f"id {pid}\n{len(rows)} of {total}")
        for column, i in enumerate(rows.tolist()):
            _thumbnail(figure, row, column, load(i), f"H {_number(manifest.entropy[i])}",
                       STATUS_COLOURS[manifest.status[i]])
    return save_png(figure, out_png)


def entropy_histogram(manifest: Manifest | str | os.PathLike, out_png: str | os.PathLike,
                      delta: float = PAPER_DELTA, bins: int = 30, dpi: int = 100) -> Path:
    """Draw stacked histograms, by status, of the entropy and of the max score.

    Parameters
    ----------
    manifest:
        A :class:`~reidprune.export.manifest.Manifest` or the path of a ``manifest.csv``.
        NaN ("not computed") values are left out; a column that is all NaN gets a panel
        saying so.
    out_png:
        The PNG file to write (atomically; replaced if it exists; parent folders created).
    delta:
        Outlier threshold drawn as a vertical line on the max-score panel, in ``[0, 1]``;
        the legend gives how many images have a max score at or below it (0: no outlier
        threshold, no line).
    bins:
        Number of bins of each histogram (entropy: over its observed range; max score: over
        ``[0, 1]``).
    dpi:
        Resolution; the image is ``HISTOGRAM_SIZE_IN * dpi`` pixels (1000 x 400 at 100).

    Returns
    -------
    Path
        ``out_png``.

    Raises
    ------
    ReidPruneError
        For an empty manifest, one with neither entropy nor max score values, or invalid
        parameters.
    """
    manifest = _as_manifest(manifest)
    if not (isinstance(delta, (int, float, np.integer, np.floating)) and not isinstance(delta, bool)
            and math.isfinite(delta) and 0 <= delta <= 1):
        raise ReidPruneError(f"delta must be a number in [0, 1], got {delta!r}")
    bins = check_positive_int(bins, "bins")
    dpi = check_dpi(dpi)
    if np.isnan(manifest.entropy).all() and np.isnan(manifest.max_score).all():
        raise ReidPruneError(f"{_where(manifest)} has no entropy or max score values (all nan); "
                             "write it with the soft-label scores to plot their distribution")
    figure = new_figure(HISTOGRAM_SIZE_IN, dpi)
    left = figure.add_axes((0.06, 0.13, 0.41, 0.75))
    right = figure.add_axes((0.56, 0.13, 0.41, 0.75))
    _histogram_panel(left, manifest.entropy, manifest.status, _entropy_edges(manifest, bins),
                     "soft-label entropy H (bits)")
    _histogram_panel(right, manifest.max_score, manifest.status, np.linspace(0.0, 1.0, bins + 1),
                     "max soft-label score")
    if not np.isnan(manifest.max_score).all() and delta > 0:
        below = int((manifest.max_score <= delta).sum())
        right.axvline(delta, color="black", linestyle="--", linewidth=1.2,
                      label=f"delta = {delta:g} ({below} at or below)")
        right.legend(fontsize=8)
    return save_png(figure, out_png)


def _entropy_edges(manifest: Manifest, bins: int) -> np.ndarray:
    finite = manifest.entropy[~np.isnan(manifest.entropy)]
    return np.histogram_bin_edges(finite if len(finite) else np.zeros(1), bins=bins)


def _histogram_panel(axes, values: np.ndarray, status: np.ndarray, edges: np.ndarray,
                     xlabel: str) -> None:
    axes.set_xlabel(xlabel)
    axes.set_ylabel("images")
    if np.isnan(values).all():
        axes.text(0.5, 0.5, "not computed (all nan)", ha="center", va="center",
                  transform=axes.transAxes, color="0.4")
        return
    counts = histogram_counts(values, status, edges)
    present = [s for s in STATUSES if counts[s].sum()]
    # Counts are computed once (histogram_counts) and drawn as weights, so the picture is
    # exactly what the tested helper returns.
    axes.hist([edges[:-1]] * len(present), bins=edges, weights=[counts[s] for s in present],
              stacked=True, color=[STATUS_COLOURS[s] for s in present], label=present)
    axes.legend(fontsize=8)


# ---------------------------------------------------------------------------------------------
# Helpers


def _gallery_caption(manifest: Manifest, group: str, i: int, assigned: int) -> str:
    if group == "outliers":
        return f"id {manifest.corrected_id[i]}\nmax {_number(manifest.max_score[i])}"
    if group == "relabelled":
        before = "?" if assigned < 0 else str(assigned)
        return f"{before} \u2192 {manifest.corrected_id[i]}\nmax {_number(manifest.max_score[i])}"
    return f"id {manifest.corrected_id[i]}\nH {_number(manifest.entropy[i])}"


def _number(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"


def _row_label(figure, row: int, text: str) -> None:
    width, height = figure.get_figwidth(), figure.get_figheight()
    centre = height - TITLE_IN - (row + 0.5) * CELL_HEIGHT_IN
    figure.text(0.1 / width, centre / height, text, ha="left", va="center", fontsize=10,
                fontweight="bold")


def _row_note(figure, row: int, text: str) -> None:
    width, height = figure.get_figwidth(), figure.get_figheight()
    centre = height - TITLE_IN - (row + 0.5) * CELL_HEIGHT_IN
    figure.text((LABEL_IN + 0.25) / width, centre / height, text, ha="left", va="center",
                fontsize=10, fontstyle="italic", color="0.4")


def _thumbnail(figure, row: int, column: int, image: np.ndarray, caption: str,
               colour: str) -> None:
    width, height = figure.get_figwidth(), figure.get_figheight()
    left = LABEL_IN + column * CELL_WIDTH_IN + _PAD_IN
    bottom = height - TITLE_IN - (row + 1) * CELL_HEIGHT_IN + _CAPTION_IN
    box = (left / width, bottom / height, (CELL_WIDTH_IN - 2 * _PAD_IN) / width,
           (CELL_HEIGHT_IN - _CAPTION_IN - _PAD_IN) / height)
    axes = figure.add_axes(box)
    # aspect "equal" shrinks the axes to the picture, so the coloured spines frame the image.
    axes.imshow(image, aspect="equal")
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(2.5)
    axes.text(0.5, -0.03, caption, transform=axes.transAxes, ha="center", va="top", fontsize=7)


def _image_source(manifest: Manifest, dataset_root, pixels):
    """A function row -> thumbnail array, reading from ``pixels`` or from the files."""
    if pixels is not None:
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[3] != 3 \
                or len(pixels) != len(manifest):
            raise ReidPruneError(f"pixels must be a {len(manifest)} x H x W x 3 uint8 array (one "
                                 f"image per manifest row), got {pixels.dtype} {pixels.shape}")
        return lambda i: _shrink(pixels[i])
    if dataset_root is None:
        raise ReidPruneError("give dataset_root (the folder the manifest paths are relative to) "
                             "or pixels")
    root = Path(dataset_root).expanduser()
    if not root.is_dir():
        raise ReidPruneError(f"dataset root {root} is not a folder; give the folder the manifest "
                             "paths are relative to")
    return lambda i: _shrink(decode_image(_image_path(manifest, root, i)))


def _shrink(image: np.ndarray) -> np.ndarray:
    picture = Image.fromarray(np.ascontiguousarray(image))
    picture.thumbnail(THUMBNAIL_PX, Image.Resampling.LANCZOS)
    return np.asarray(picture)


def _as_manifest(manifest) -> Manifest:
    if isinstance(manifest, (str, os.PathLike)):
        manifest = read_manifest(manifest)
    if not isinstance(manifest, Manifest):
        raise ReidPruneError(f"expected a Manifest or the path of a manifest.csv, got "
                             f"{type(manifest).__name__}")
    if len(manifest) == 0:
        raise ReidPruneError(f"{_where(manifest)} has no rows; nothing to draw (was it written "
                             "for an empty training split?)")
    return manifest
