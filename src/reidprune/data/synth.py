"""A deterministic synthetic ReID world in Market-1501 layout, with injected ground truth.

``generate_world(out_dir)`` draws pedestrian-like crops (head, hair, shirt, arms, trousers,
shoes, optional bag or striped shirt) of ``num_train_ids + num_test_ids`` identities seen by
``num_cameras`` cameras, in tracklets of ``tracklet_length`` near-duplicate frames, and writes::

    out_dir/
        bounding_box_train/PPPP_cCsS_FFFFFF_00.jpg   training crops (pids 0001..num_train_ids)
        query/...                                     one crop per test identity per camera (<= 2)
        bounding_box_test/...                         the other test crops + pid 0000 distractors
        ground_truth.csv                              who is really drawn in every crop
        synth_config.json                             the SynthConfig used

File names: ``PPPP`` the assigned pid, ``C`` the camera (1..num_cameras), ``S`` the sequence
(1 train, 2 test identities, 3 distractors), ``FFFFFF`` the frame number, unique per camera;
the Market regex ``([-\\d]+)_c(\\d)`` reads pid and camera. Test pids follow the training pids
(``num_train_ids + 1 ...``), so the two sets are disjoint.

Identities differ in shirt / trouser / shoe / skin / hair colours, hair length, sleeves,
bags, stripes and body proportions; about one in ten copies its predecessor's clothes (a
look-alike). Cameras differ in background, lighting gain and tint, blur and noise. Each
tracklet has its own position, size, walking phase and facing; consecutive frames move by
a fraction of a pixel.

The training split carries injected noise, recorded in ``ground_truth.csv``:

* ``mislabeled``: the file name's pid (``assigned_pid``) is a random *other* training identity
  than the person drawn (``true_pid``); whole images are picked, not whole tracklets.
* ``two_people``: the labelled identity (``true_pid == assigned_pid``) plus a second training
  identity (``other_pid``) side by side.
* ``occlusion``: the person behind a random-colour block or pole covering 50-70% of the crop.
* ``truncation``: only the top (head and shoulders) or a side sliver of the person is visible.

Outliers keep their label (``assigned_pid == true_pid``). Exactly
``round(mislabel_rate * N_train)`` and ``round(outlier_rate * N_train)`` images are corrupted
(halves round up), on disjoint images drawn uniformly; outlier kinds are split as equally as
possible. Query and gallery crops are all ``clean``; distractors have ``true_pid == 0``.
Everything derives from ``seed`` through per-entity random streams, so the same config always
gives byte-identical files.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from reidprune.atomic import atomic_path
from reidprune.data.synth_render import Scene, build_scene, render_shot
from reidprune.data.synth_world import (
    CLEAN, CONFIG_FILE, GALLERY_DIR, GROUND_TRUTH_FILE, GT_COLUMNS, KINDS,
    MISLABELED, OCCLUSION, OUTLIER_KINDS, QUERY_DIR, SYNTH_SPLITS, TRAIN_DIR, TRUNCATION, TWO_PEOPLE,
    INT_COLUMNS, SPLIT_DIRS, Shot, SynthConfig, config_from_dict, plan_world, validate_config,
)
from reidprune.errors import ReidPruneError
from reidprune.validation.paths import check_output_folder

__all__ = ["CLEAN", "CONFIG_FILE", "GALLERY_DIR", "GROUND_TRUTH_FILE", "GT_COLUMNS", "KINDS",
           "MISLABELED", "OCCLUSION", "OUTLIER_KINDS", "QUERY_DIR", "SYNTH_SPLITS", "Scene", "Shot",
           "SynthConfig", "TRAIN_DIR", "TRUNCATION", "TWO_PEOPLE", "build_scene", "config_from_dict",
           "generate_world", "is_synthetic_world", "plan_world", "read_config", "read_ground_truth",
           "render_shot", "validate_config"]


def read_config(root: str | os.PathLike) -> SynthConfig:
    """The :class:`SynthConfig` stored in ``root/synth_config.json``.

    Parameters
    ----------
    root:
        A folder written by :func:`generate_world`.
    """
    path = Path(root) / CONFIG_FILE
    if not path.is_file():
        raise ReidPruneError(f"{path} not found; is {root} a world written by `reidprune synth`?")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReidPruneError(f"{path} is not valid JSON ({exc}); regenerate the world") from exc
    return config_from_dict(values)



def _ground_truth_rows(plan: list[Shot]) -> list[dict]:
    rows = [{"path": s.relative_path(), "split": s.split, "assigned_pid": s.assigned_pid,
             "true_pid": s.true_pid, "camid": s.camid, "tracklet": s.tracklet, "kind": s.kind,
             "other_pid": s.other_pid} for s in plan]
    paths = [r["path"] for r in rows]
    if len(set(paths)) != len(paths):  # frame counters make names unique; guard the invariant
        raise ReidPruneError("synthetic file names collide; report this config as a bug")
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=GT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def generate_world(out_dir: str | os.PathLike, config: SynthConfig = SynthConfig(),
                   progress: bool = True, overwrite: bool = False) -> Path:
    """Write a synthetic Market-1501-layout world to ``out_dir`` and return its path.

    The world is built in a temporary sibling folder and renamed into place only when
    complete, so an interrupted run leaves nothing behind.

    Parameters
    ----------
    out_dir:
        Destination folder; must not exist, be empty, or ``overwrite`` must be set.
    config:
        Sizes, noise rates, seed (see :class:`SynthConfig`).
    progress:
        Show progress on stderr (a bar on a terminal, one line when redirected).
    overwrite:
        Replace a non-empty ``out_dir`` (the old content is removed only on success).

    Returns
    -------
    Path
        ``out_dir``, containing the three image folders, ``ground_truth.csv`` and
        ``synth_config.json``.
    """
    if not isinstance(config, SynthConfig):
        raise ReidPruneError(f"config must be a SynthConfig, got {type(config).__name__}")
    out_dir = Path(out_dir)
    check_output_folder(out_dir, overwrite,
                        how="replace an earlier synthetic world with `reidprune synth --overwrite`")
    if overwrite and out_dir.is_dir() and any(out_dir.iterdir()) and not is_synthetic_world(out_dir):
        raise ReidPruneError(
            f"{out_dir} is not a synthetic world (no {GROUND_TRUTH_FILE} and {CONFIG_FILE}); --overwrite "
            "replaces only a world written by `reidprune synth`: choose another folder or empty it yourself")
    plan = plan_world(config)
    rows = _ground_truth_rows(plan)
    scene = build_scene(config)
    from reidprune.progress import progress as progress_bar

    with atomic_path(out_dir, directory=True) as tmp:
        for folder in SPLIT_DIRS.values():
            (tmp / folder).mkdir()
        for shot, row in progress_bar(list(zip(plan, rows)), desc="synth", unit="img", enabled=progress):
            Image.fromarray(render_shot(scene, shot)).save(
                tmp / row["path"], format="JPEG", quality=config.jpeg_quality)
        _write_csv(tmp / GROUND_TRUTH_FILE, rows)
        config_json = json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True)
        (tmp / CONFIG_FILE).write_text(config_json + "\n", encoding="utf-8")
    return out_dir


def is_synthetic_world(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds what :func:`generate_world` writes (so it may be replaced)."""
    folder = Path(folder)
    return (folder / GROUND_TRUTH_FILE).is_file() and (folder / CONFIG_FILE).is_file() and \
        all((folder / name).is_dir() for name in SPLIT_DIRS.values())


def _parse_ground_truth(path: Path) -> dict[str, list]:
    columns: dict[str, list] = {c: [] for c in GT_COLUMNS}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in GT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ReidPruneError(f"{path} lacks column(s) {missing}; regenerate the world")
        for line, row in enumerate(reader, start=2):
            for c in GT_COLUMNS:
                value = row[c]
                if c in INT_COLUMNS:
                    try:
                        value = int(value)
                    except (TypeError, ValueError):
                        raise ReidPruneError(
                            f"{path} line {line}: {c}={value!r} is not an integer; "
                            "regenerate the world") from None
                columns[c].append(value)
    return columns


def _check_ground_truth(path: Path, gt: dict[str, np.ndarray]) -> None:
    def fail(mask: np.ndarray, what: str) -> None:
        if mask.any():
            first = gt["path"][np.flatnonzero(mask)[0]]
            raise ReidPruneError(f"{path}: {int(mask.sum())} row(s) {what} (first: {first}); "
                                 "regenerate the world")

    if len(gt["path"]) == 0:
        raise ReidPruneError(f"{path} has no rows; regenerate the world")
    fail(~np.isin(gt["split"], SYNTH_SPLITS), f"have a split other than {SYNTH_SPLITS}")
    fail(~np.isin(gt["kind"], KINDS), f"have a kind other than {KINDS}")
    fail((gt["kind"] != CLEAN) & (gt["split"] != "train"), "outside train are not clean")
    mislabeled = gt["kind"] == MISLABELED
    fail(mislabeled & (gt["assigned_pid"] == gt["true_pid"]), "are mislabeled but keep their pid")
    fail(~mislabeled & (gt["assigned_pid"] != gt["true_pid"]), "change pid but are not mislabeled")
    fail((gt["kind"] == TWO_PEOPLE) & (gt["other_pid"] <= 0), "are two_people without other_pid")
    _, first = np.unique(gt["path"], return_index=True)
    duplicate = np.ones(len(gt["path"]), bool)
    duplicate[first] = False
    fail(duplicate, "repeat a path")


def read_ground_truth(root: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read and validate ``root/ground_truth.csv``.

    Parameters
    ----------
    root:
        A folder written by :func:`generate_world`.

    Returns
    -------
    dict
        One array per column: ``path`` (relative to root, ``/``-separated), ``split``
        (train / query / gallery) and ``kind`` as str; ``assigned_pid`` (the pid in the
        file name), ``true_pid`` (who is drawn; for ``two_people`` the labelled one of the
        two, 0 for distractors), ``camid`` (1-based, as in the file name), ``tracklet``,
        ``other_pid`` (the unlabelled second person of ``two_people``, else 0) as int64.
        Rows are in generation order: train, then test identities, then distractors.
    """
    path = Path(root) / GROUND_TRUTH_FILE
    if not path.is_file():
        raise ReidPruneError(f"{path} not found; is {root} a world written by `reidprune synth`?")
    columns = _parse_ground_truth(path)
    gt = {c: np.asarray(v, dtype=np.int64 if c in INT_COLUMNS else str)
          for c, v in columns.items()}
    _check_ground_truth(path, gt)
    return gt
