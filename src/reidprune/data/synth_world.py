"""Planning a synthetic ReID world: its configuration and who is seen where, under which label.

No pixels here: :func:`plan_world` lists every crop (:class:`Shot`) with its identity, file
name, camera, tracklet and injected noise; :mod:`reidprune.data.synth_render` draws them and
:mod:`reidprune.data.synth` writes the world (see its docstring for the semantics).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.validation.arrays import check_int, check_number

TRAIN_DIR, QUERY_DIR, GALLERY_DIR = "bounding_box_train", "query", "bounding_box_test"
GROUND_TRUTH_FILE, CONFIG_FILE = "ground_truth.csv", "synth_config.json"
CLEAN, MISLABELED = "clean", "mislabeled"
TWO_PEOPLE, OCCLUSION, TRUNCATION = "two_people", "occlusion", "truncation"
OUTLIER_KINDS = (TWO_PEOPLE, OCCLUSION, TRUNCATION)
KINDS = (CLEAN, MISLABELED) + OUTLIER_KINDS
SYNTH_SPLITS = ("train", "query", "gallery")
GT_COLUMNS = ("path", "split", "assigned_pid", "true_pid", "camid", "tracklet", "kind",
              "other_pid")
INT_COLUMNS = ("assigned_pid", "true_pid", "camid", "tracklet", "other_pid")
SPLIT_DIRS = {"train": TRAIN_DIR, "query": QUERY_DIR, "gallery": GALLERY_DIR}
_SEQUENCE = {"train": 1, "query": 2, "gallery": 2, "distractor": 3}

# Stream tags: every random draw comes from default_rng([seed, TAG, ...]) so that one
# entity's draws never depend on how many other entities exist.
(STREAM_IDENTITY, STREAM_CAMERA, STREAM_TRACKLET, STREAM_FRAME, STREAM_NOISE, STREAM_QUERY, STREAM_DISTRACTOR,
 STREAM_POSE) = range(1, 9)



@dataclass(frozen=True)
class SynthConfig:
    """Size, noise and rendering settings of a synthetic world.

    Parameters
    ----------
    num_train_ids:
        Training identities (pids 1..num_train_ids); at least 2 so mislabels have a target.
    num_test_ids:
        Test identities (pids after the training ones), disjoint from the training identities.
    images_per_id:
        Training crops per identity (cut into tracklets, at least 2 tracklets per identity).
    test_images_per_id:
        Crops per test identity, at least 4: one per camera (up to 2 cameras) goes to
        ``query``, the rest to ``bounding_box_test``.
    num_distractors:
        Extra pid-0000 gallery crops (partial or occluded strangers), as in Market-1501.
    num_cameras:
        Cameras, 2..9 (the Market regex reads one camera digit).
    tracklet_length:
        Consecutive near-duplicate frames per tracklet (same camera, tiny jitter).
    height, width:
        Crop size in pixels.
    mislabel_rate:
        Fraction of training crops whose file name carries another training identity.
    outlier_rate:
        Fraction of training crops that are outliers (two people, occlusion, truncation).
    seed:
        Non-negative integer; equal configs give byte-identical worlds.
    jpeg_quality:
        JPEG quality, 1..100.
    """

    num_train_ids: int = 100
    num_test_ids: int = 50
    images_per_id: int = 20
    test_images_per_id: int = 12
    num_distractors: int = 10
    num_cameras: int = 4
    tracklet_length: int = 5
    height: int = 128
    width: int = 64
    mislabel_rate: float = 0.10
    outlier_rate: float = 0.03
    seed: int = 0
    jpeg_quality: int = 90

    def __post_init__(self):
        for field in dataclasses.fields(self):  # numpy scalars would not survive json.dumps
            value = getattr(self, field.name)
            if isinstance(value, np.integer):
                object.__setattr__(self, field.name, int(value))
            elif isinstance(value, np.floating):
                object.__setattr__(self, field.name, float(value))
        validate_config(self)

    @property
    def num_train_images(self) -> int:
        return self.num_train_ids * self.images_per_id

    @property
    def num_mislabeled(self) -> int:
        """``round(mislabel_rate * N_train)``, halves rounded up."""
        return _round_half_up(self.mislabel_rate * self.num_train_images)

    @property
    def num_outliers(self) -> int:
        """``round(outlier_rate * N_train)``, halves rounded up."""
        return _round_half_up(self.outlier_rate * self.num_train_images)


_INT_RANGES = {
    "num_train_ids": (2, None), "num_test_ids": (1, None), "images_per_id": (2, None),
    "test_images_per_id": (4, None), "num_distractors": (0, None), "num_cameras": (2, 9),
    "tracklet_length": (1, None), "height": (32, 2048), "width": (16, 2048),
    "seed": (0, None), "jpeg_quality": (1, 100),
}


def validate_config(config: SynthConfig) -> None:
    """Raise :class:`ReidPruneError` naming the first invalid field of ``config``.

    Parameters
    ----------
    config:
        The configuration to check (called automatically when a SynthConfig is built).
    """
    for name, (low, high) in _INT_RANGES.items():
        check_int(getattr(config, name), f"SynthConfig.{name}", low, high)
    for name in ("mislabel_rate", "outlier_rate"):
        check_number(getattr(config, name), f"SynthConfig.{name}", 0.0, 1.0, max_open=True)
    if config.num_mislabeled + config.num_outliers > config.num_train_images:
        raise ReidPruneError(
            f"SynthConfig.mislabel_rate + outlier_rate = "
            f"{config.mislabel_rate + config.outlier_rate}"
            " corrupts more than all training images; lower one of them")
    if config.num_train_ids + config.num_test_ids > 9999:
        raise ReidPruneError(
            "SynthConfig.num_train_ids + num_test_ids must be <= 9999 (4-digit Market pids), got "
            f"{config.num_train_ids + config.num_test_ids}")


def config_from_dict(values: dict) -> SynthConfig:
    """Build a :class:`SynthConfig` from a dict (e.g. a parsed ``synth_config.json``).

    Parameters
    ----------
    values:
        Field name -> value; missing fields take their defaults, unknown ones are an error.
    """
    if not isinstance(values, dict):
        raise ReidPruneError(f"a synth config must be a JSON object, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(SynthConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ReidPruneError(f"unknown SynthConfig field(s) {unknown}; known: {sorted(known)}")
    return SynthConfig(**values)



@dataclass(frozen=True)
class Shot:
    """One planned crop: who is drawn, what its file name says, where and when it was seen."""

    split: str  # train / query / gallery
    true_pid: int  # who is drawn (0 for distractors)
    assigned_pid: int  # what the file name says
    camid: int  # 1..num_cameras
    tracklet: int  # global tracklet id
    step: int  # frame index inside the tracklet
    frame: int  # frame number in the file name
    kind: str = CLEAN
    other_pid: int = 0  # second person of a two_people crop

    def relative_path(self) -> str:
        sequence = _SEQUENCE["distractor" if self.true_pid == 0 else self.split]
        name = f"{self.assigned_pid:04d}_c{self.camid}s{sequence}_{self.frame:06d}_00.jpg"
        return f"{SPLIT_DIRS[self.split]}/{name}"


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5 + 1e-9))


def entity_rng(config: SynthConfig, *keys: int) -> np.random.Generator:
    """The random stream of one entity: ``default_rng([seed, *keys])``."""
    return np.random.default_rng([config.seed, *keys])


def _tracklet_sizes(num_images: int, length: int) -> list[int]:
    """Chunks of ``length`` (last one shorter), but always at least two tracklets."""
    full, rest = divmod(num_images, length)
    sizes = [length] * full + ([rest] if rest else [])
    if len(sizes) < 2:
        sizes = [num_images - num_images // 2, num_images // 2]
    return sizes


def _identity_shots(config: SynthConfig, pid: int, split: str, first_tracklet: int,
                    frame_counters: dict[int, int]) -> list[Shot]:
    """All crops of one identity; consecutive tracklets visit different cameras."""
    rng = entity_rng(config, STREAM_TRACKLET, pid)
    cameras = rng.permutation(config.num_cameras) + 1
    num_images = config.images_per_id if split == "train" else config.test_images_per_id
    shots = []
    for t, size in enumerate(_tracklet_sizes(num_images, config.tracklet_length)):
        cam = int(cameras[t % config.num_cameras])
        start = frame_counters[cam] + int(rng.integers(10, 60))
        frame_counters[cam] = start + 5 * size
        shots += [Shot(split, pid, pid, cam, first_tracklet + t, k, start + 5 * k)
                  for k in range(size)]
    return shots


def _cross_camera_matches_left(gallery_counts: dict[int, int], query_cams: list[int]) -> bool:
    return all(sum(n for c, n in gallery_counts.items() if c != q) > 0 for q in query_cams)


def _split_query(config: SynthConfig, shots: list[Shot]) -> list[Shot]:
    """One query per camera for the first two cameras an identity visits; the rest is gallery.

    A camera gives a query only if every query then keeps a gallery match in another camera
    (the Market protocol ignores same-camera matches).
    """
    rng = entity_rng(config, STREAM_QUERY, shots[0].true_pid)
    left = {cam: sum(s.camid == cam for s in shots) for cam in {s.camid for s in shots}}
    query_cams: list[int] = []
    out = []
    for tracklet in sorted({s.tracklet for s in shots}):
        members = [s for s in shots if s.tracklet == tracklet]
        cam, pick = members[0].camid, -1
        after = {**left, cam: left[cam] - 1}
        if (cam not in query_cams and len(query_cams) < 2
                and _cross_camera_matches_left(after, query_cams + [cam])):
            query_cams.append(cam)
            left = after
            pick = int(rng.integers(len(members)))
        out += [dataclasses.replace(s, split="query" if i == pick else "gallery")
                for i, s in enumerate(members)]
    return out


def _inject_noise(config: SynthConfig, train: list[Shot]) -> list[Shot]:
    """Mislabel and corrupt disjoint, uniformly drawn training images."""
    rng = entity_rng(config, STREAM_NOISE)
    order = rng.permutation(len(train))
    n_mis, n_out = config.num_mislabeled, config.num_outliers
    kinds = rng.permutation(np.resize(np.array(OUTLIER_KINDS), n_out)) if n_out else []
    ids = config.num_train_ids
    train = list(train)
    for i in order[:n_mis]:
        shot = train[i]
        other = int(rng.integers(1, ids))  # 1..ids-1, shifted past the true pid below
        other = other if other < shot.true_pid else other + 1
        train[i] = dataclasses.replace(shot, assigned_pid=other, kind=MISLABELED)
    for i, kind in zip(order[n_mis:n_mis + n_out], kinds):
        shot = train[i]
        second = 0
        if kind == TWO_PEOPLE:
            second = int(rng.integers(1, ids))
            second = second if second < shot.true_pid else second + 1
        train[i] = dataclasses.replace(shot, kind=str(kind), other_pid=second)
    return train


def plan_world(config: SynthConfig) -> list[Shot]:
    """Every crop of the world (label, camera, tracklet, kind), in a fixed order, no pixels.

    Parameters
    ----------
    config:
        The world's configuration.
    """
    counters = {cam: 0 for cam in range(1, config.num_cameras + 1)}
    train, tracklet = [], 0
    for pid in range(1, config.num_train_ids + 1):
        shots = _identity_shots(config, pid, "train", tracklet, counters)
        tracklet = shots[-1].tracklet + 1
        train += shots
    test = []
    for pid in range(config.num_train_ids + 1, config.num_train_ids + config.num_test_ids + 1):
        shots = _identity_shots(config, pid, "gallery", tracklet, counters)
        tracklet = shots[-1].tracklet + 1
        test += _split_query(config, shots)
    distractors = []
    for i in range(config.num_distractors):
        cam = int(entity_rng(config, STREAM_DISTRACTOR, i).integers(1, config.num_cameras + 1))
        counters[cam] += 37
        distractors.append(Shot("gallery", 0, 0, cam, tracklet + i, 0, counters[cam]))
    if max(counters.values()) > 999_999:
        raise ReidPruneError(
            "the world needs more than 6-digit frame numbers per camera; lower --train-ids / "
            "--test-ids / --images-per-id or raise --cameras")
    return _inject_noise(config, train) + test + distractors
