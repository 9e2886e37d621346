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
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from reidprune.atomic import atomic_path
from reidprune.errors import ReidPruneError

TRAIN_DIR, QUERY_DIR, GALLERY_DIR = "bounding_box_train", "query", "bounding_box_test"
GROUND_TRUTH_FILE, CONFIG_FILE = "ground_truth.csv", "synth_config.json"
CLEAN, MISLABELED = "clean", "mislabeled"
TWO_PEOPLE, OCCLUSION, TRUNCATION = "two_people", "occlusion", "truncation"
OUTLIER_KINDS = (TWO_PEOPLE, OCCLUSION, TRUNCATION)
KINDS = (CLEAN, MISLABELED) + OUTLIER_KINDS
SYNTH_SPLITS = ("train", "query", "gallery")
GT_COLUMNS = ("path", "split", "assigned_pid", "true_pid", "camid", "tracklet", "kind",
              "other_pid")
_INT_COLUMNS = ("assigned_pid", "true_pid", "camid", "tracklet", "other_pid")
_SPLIT_DIRS = {"train": TRAIN_DIR, "query": QUERY_DIR, "gallery": GALLERY_DIR}
_SEQUENCE = {"train": 1, "query": 2, "gallery": 2, "distractor": 3}

# Stream tags: every random draw comes from default_rng([seed, TAG, ...]) so that one
# entity's draws never depend on how many other entities exist.
(_S_IDENTITY, _S_CAMERA, _S_TRACKLET, _S_FRAME, _S_NOISE, _S_QUERY, _S_DISTRACTOR,
 _S_POSE) = range(1, 9)


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
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ReidPruneError(f"SynthConfig.{name} must be an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in {low}..{high}"
            raise ReidPruneError(f"SynthConfig.{name} must be {bounds}, got {value}")
    for name in ("mislabel_rate", "outlier_rate"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise ReidPruneError(f"SynthConfig.{name} must be a number, got {value!r}")
        if not 0.0 <= float(value) < 1.0:
            raise ReidPruneError(f"SynthConfig.{name} must lie in [0, 1), got {value}")
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


# ----------------------------------------------------------------------------------------
# The plan: which image shows whom, where, under which label (no pixels yet).
# ----------------------------------------------------------------------------------------

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
        return f"{_SPLIT_DIRS[self.split]}/{name}"


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5 + 1e-9))


def _rng(config: SynthConfig, *keys: int) -> np.random.Generator:
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
    rng = _rng(config, _S_TRACKLET, pid)
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
    rng = _rng(config, _S_QUERY, shots[0].true_pid)
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
    rng = _rng(config, _S_NOISE)
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
        cam = int(_rng(config, _S_DISTRACTOR, i).integers(1, config.num_cameras + 1))
        counters[cam] += 37
        distractors.append(Shot("gallery", 0, 0, cam, tracklet + i, 0, counters[cam]))
    if max(counters.values()) > 999_999:
        raise ReidPruneError(
            "the world needs more than 6-digit frame numbers per camera; lower num_train_ids / "
            "num_test_ids / images_per_id or raise num_cameras")
    return _inject_noise(config, train) + test + distractors


# ----------------------------------------------------------------------------------------
# Appearance: identities and cameras.
# ----------------------------------------------------------------------------------------

_TROUSER_PALETTE = np.array([
    [30, 35, 60], [20, 20, 22], [70, 70, 75], [150, 150, 150], [180, 160, 120],
    [50, 70, 120], [90, 60, 40], [110, 140, 180], [80, 90, 50], [220, 215, 205],
    [120, 30, 40], [40, 90, 90]], dtype=np.float32)
_SKIN_LIGHT, _SKIN_DARK = np.array([240, 205, 180], np.float32), np.array([90, 60, 40], np.float32)
_HAIR_PALETTE = np.array([
    [20, 15, 12], [60, 40, 25], [110, 75, 45], [210, 180, 110], [160, 160, 160],
    [150, 70, 35]], dtype=np.float32)
_NO_BAG, _HANDBAG, _BACKPACK = 0, 1, 2


@dataclass(frozen=True)
class _Identity:
    shirt: np.ndarray
    stripe: np.ndarray | None  # stripe colour of a striped shirt
    trousers: np.ndarray
    shoes: np.ndarray
    skin: np.ndarray
    hair: np.ndarray
    long_hair: bool
    short_sleeves: bool
    bag: int
    bag_colour: np.ndarray
    bag_side: int
    width_factor: float
    height_factor: float


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    rgb = v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return (255.0 * rgb).astype(np.float32)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A garment colour: mostly saturated hues, sometimes white / grey / black."""
    if rng.random() < 0.2:
        return np.full(3, rng.uniform(25, 235), np.float32)
    return _hsv_to_rgb(rng.random(), rng.uniform(0.35, 1.0), rng.uniform(0.35, 0.95))


def _clothes(config: SynthConfig, pid: int) -> tuple[np.ndarray, np.ndarray]:
    rng = _rng(config, _S_IDENTITY, pid, 0)
    trousers = _TROUSER_PALETTE[rng.integers(len(_TROUSER_PALETTE))]
    return _random_colour(rng), np.clip(trousers + rng.normal(0, 12, 3), 0, 255).astype(np.float32)


def _identity_appearance(config: SynthConfig, pid: int) -> _Identity:
    """The look of identity ``pid``; about one in ten copies its predecessor's clothes.

    Parameters
    ----------
    config:
        Supplies the seed.
    pid:
        The identity (0 and negative pids give one-off strangers, for distractors).
    """
    rng = _rng(config, _S_IDENTITY, pid, 1) if pid > 0 else _rng(config, _S_DISTRACTOR, -pid, 1)
    if pid > 1 and rng.random() < 0.1:  # a look-alike: same clothes, slightly shifted colours
        shirt, trousers = _clothes(config, pid - 1)
        shirt = np.clip(shirt + rng.normal(0, 10, 3), 0, 255).astype(np.float32)
    elif pid > 0:
        shirt, trousers = _clothes(config, pid)
    else:
        shirt, trousers = _random_colour(rng), _TROUSER_PALETTE[rng.integers(len(_TROUSER_PALETTE))]
    striped = rng.random() < 0.25
    return _Identity(
        shirt=shirt,
        stripe=_random_colour(rng) if striped else None,
        trousers=trousers,
        shoes=np.full(3, rng.uniform(15, 90), np.float32) if rng.random() < 0.8
        else np.full(3, 230, np.float32),
        skin=_SKIN_LIGHT + rng.random() * (_SKIN_DARK - _SKIN_LIGHT),
        hair=_HAIR_PALETTE[rng.integers(len(_HAIR_PALETTE))],
        long_hair=bool(rng.random() < 0.35),
        short_sleeves=bool(rng.random() < 0.4),
        bag=int(rng.choice([_NO_BAG, _HANDBAG, _BACKPACK], p=[0.5, 0.25, 0.25])),
        bag_colour=_random_colour(rng) * 0.7,
        bag_side=int(rng.choice([-1, 1])),
        width_factor=float(rng.uniform(0.85, 1.2)),
        height_factor=float(rng.uniform(0.9, 1.04)),
    )


@dataclass(frozen=True)
class _Camera:
    background: np.ndarray  # H x W x 3 float
    gain: np.ndarray  # per-channel gain (brightness x colour tint)
    blur: float  # Gaussian sigma in pixels
    noise: float  # sensor noise std


def _camera_style(config: SynthConfig, cam: int) -> _Camera:
    """Background scene, lighting gain and tint, blur and noise of camera ``cam``.

    Parameters
    ----------
    config:
        Supplies the seed and the crop size.
    cam:
        Camera number, 1..num_cameras.
    """
    rng = _rng(config, _S_CAMERA, cam)
    h, w = config.height, config.width
    yy = np.arange(h, dtype=np.float32)[:, None] + 0.5
    xx = np.arange(w, dtype=np.float32)[None, :] + 0.5
    # muted scenes: a grey level with a mild colour cast, so clothes carry the identity
    wall = (rng.uniform(95, 165) + rng.normal(0, 12, 3)).astype(np.float32)
    floor = (rng.uniform(85, 150) + rng.normal(0, 10, 3)).astype(np.float32)
    horizon = h * rng.uniform(0.5, 0.75)
    period = rng.uniform(5, 16) * w / 64
    texture = rng.uniform(6, 20) * np.sin(2 * np.pi * xx / period + rng.uniform(0, 6.3))
    spacing = rng.uniform(10, 20) * h / 128
    lines = rng.uniform(8, 20) * (np.sin(2 * np.pi * (yy - horizon) / spacing) > 0.8)
    background = np.where((yy < horizon)[..., None], wall + texture[..., None],
                          floor + lines[..., None])
    background = background + rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    gain = rng.uniform(0.85, 1.1) * rng.uniform(0.94, 1.06, 3)
    return _Camera(background.astype(np.float32), gain.astype(np.float32),
                   float(rng.uniform(0.0, 0.8)), float(rng.uniform(1.0, 4.0)))


# ----------------------------------------------------------------------------------------
# Drawing: anti-aliased rectangles and ellipses painted into an H x W x 3 float canvas.
# ----------------------------------------------------------------------------------------

def _paint(canvas: np.ndarray, top: int, left: int, alpha: np.ndarray, colour: np.ndarray) -> None:
    h, w = alpha.shape
    patch = canvas[top:top + h, left:left + w]
    patch += alpha[..., None] * (colour - patch)


def _bounds(lo: float, hi: float, size: int) -> tuple[int, int]:
    return max(int(math.floor(lo)), 0), min(int(math.ceil(hi)), size)


def _paint_rect(canvas: np.ndarray, y0: float, y1: float, x0: float, x1: float,
                colour: np.ndarray) -> None:
    """Paint the rectangle [y0, y1) x [x0, x1) (pixel units, soft one-pixel edges) in place.

    Parameters
    ----------
    canvas:
        H x W x 3 float array, modified in place.
    y0, y1, x0, x1:
        Edges in pixels; pixel (i, j) has its centre at (i + 0.5, j + 0.5).
    colour:
        RGB triple, 0..255.
    """
    r0, r1 = _bounds(y0, y1, canvas.shape[0])
    c0, c1 = _bounds(x0, x1, canvas.shape[1])
    if r1 <= r0 or c1 <= c0:
        return
    ys = np.arange(r0, r1, dtype=np.float32) + 0.5
    xs = np.arange(c0, c1, dtype=np.float32) + 0.5
    ay = (np.minimum(ys - y0, y1 - ys) + 0.5).clip(0, 1)
    ax = (np.minimum(xs - x0, x1 - xs) + 0.5).clip(0, 1)
    _paint(canvas, r0, c0, ay[:, None] * ax[None, :], colour)


def _paint_ellipse(canvas: np.ndarray, cy: float, cx: float, ry: float, rx: float,
                   colour: np.ndarray, y_max: float = math.inf) -> None:
    """Paint an axis-aligned ellipse (soft edges) in place, optionally cut off below ``y_max``.

    Parameters
    ----------
    canvas:
        H x W x 3 float array, modified in place.
    cy, cx, ry, rx:
        Centre and radii in pixels.
    colour:
        RGB triple, 0..255.
    y_max:
        Rows below this line are left untouched (e.g. hair covering only the top of a head).
    """
    r0, r1 = _bounds(cy - ry - 1, min(cy + ry + 1, y_max + 1), canvas.shape[0])
    c0, c1 = _bounds(cx - rx - 1, cx + rx + 1, canvas.shape[1])
    if r1 <= r0 or c1 <= c0 or rx <= 0 or ry <= 0:
        return
    ys = np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5
    dist = np.sqrt(((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2)
    alpha = ((1.0 - dist) * min(rx, ry) + 0.5).clip(0, 1)
    if y_max < math.inf:
        alpha = alpha * (y_max - ys + 0.5).clip(0, 1)
    _paint(canvas, r0, c0, alpha, colour)


@dataclass(frozen=True)
class _Pose:
    cx: float  # body centre column
    foot: float  # row of the soles
    height: float  # person height in pixels
    phase: float  # walking phase (leg and arm swing)
    facing: int  # +1 towards the camera, -1 away
    light: float  # tracklet-level brightness


def _draw_person(canvas: np.ndarray, person: _Identity, pose: _Pose) -> None:
    """Draw one pedestrian into ``canvas`` (in place).

    Parameters
    ----------
    canvas:
        H x W x 3 float array.
    person:
        Appearance (from :func:`_identity_appearance`).
    pose:
        Position, size, walking phase and facing.
    """
    hp, cx = pose.height, pose.cx
    top = pose.foot - hp
    half = 0.15 * hp * person.width_factor
    swing = math.sin(pose.phase)
    waist, knee_spread = top + 0.5 * hp, 0.03 * hp * swing
    leg_w = 0.05 * hp * person.width_factor
    for side in (-1, 1):  # legs and shoes
        lx = cx + side * (0.055 * hp * person.width_factor + knee_spread * side)
        _paint_rect(canvas, waist - 1, top + 0.95 * hp, lx - leg_w, lx + leg_w, person.trousers)
        _paint_rect(canvas, top + 0.95 * hp, pose.foot, lx - leg_w - 0.01 * hp,
                    lx + leg_w + 0.015 * hp, person.shoes)
    if person.bag == _BACKPACK and pose.facing > 0:
        _paint_rect(canvas, top + 0.17 * hp, top + 0.42 * hp, cx - half * 1.1, cx + half * 1.1,
                    person.bag_colour)
    shoulder = top + 0.15 * hp
    _paint_ellipse(canvas, shoulder + 0.05 * hp, cx, 0.05 * hp, half, person.shirt)
    _paint_rect(canvas, shoulder + 0.05 * hp, waist + 0.01 * hp, cx - half, cx + half, person.shirt)
    if person.stripe is not None:  # horizontal stripes across the torso
        period = 0.05 * hp
        for k in range(int((waist - shoulder) / period)):
            y = shoulder + 0.06 * hp + k * period
            if k % 2 == 0 and y < waist:
                _paint_rect(canvas, y, min(y + period / 2, waist), cx - half, cx + half,
                            person.stripe)
    arm_w = 0.045 * hp
    for side in (-1, 1):  # arms swing against the legs
        ax = cx + side * (half + arm_w / 2) - side * 0.01 * hp
        dy = -side * 0.015 * hp * swing
        sleeve_end = top + (0.28 if person.short_sleeves else 0.45) * hp + dy
        _paint_rect(canvas, shoulder + 0.02 * hp, sleeve_end, ax - arm_w / 2, ax + arm_w / 2,
                    person.shirt)
        if person.short_sleeves:
            forearm = arm_w / 2.4
            _paint_rect(canvas, sleeve_end, top + 0.45 * hp + dy, ax - forearm, ax + forearm,
                        person.skin)
        _paint_ellipse(canvas, top + 0.47 * hp + dy, ax, 0.025 * hp, arm_w / 2, person.skin)
    head_cy, head_ry, head_rx = top + 0.08 * hp, 0.075 * hp, 0.058 * hp
    if person.long_hair:
        _paint_rect(canvas, head_cy, top + 0.25 * hp, cx - head_rx * 1.1, cx + head_rx * 1.1,
                    person.hair)
    _paint_ellipse(canvas, head_cy, cx, head_ry, head_rx, person.skin)
    hair_line = head_cy - 0.02 * hp if pose.facing > 0 else head_cy + head_ry
    _paint_ellipse(canvas, head_cy - 0.008 * hp, cx, head_ry, head_rx * 1.06, person.hair,
                   y_max=hair_line)
    if person.bag == _BACKPACK and pose.facing < 0:
        _paint_rect(canvas, top + 0.17 * hp, top + 0.42 * hp, cx - half * 0.8, cx + half * 0.8,
                    person.bag_colour)
    elif person.bag == _BACKPACK:  # straps seen from the front
        for side in (-1, 1):
            sx = cx + side * half * 0.6
            _paint_rect(canvas, shoulder, top + 0.38 * hp, sx - 0.012 * hp, sx + 0.012 * hp,
                        person.bag_colour)
    elif person.bag == _HANDBAG:
        bx = cx + person.bag_side * (half + arm_w * 1.2)
        _paint_rect(canvas, top + 0.42 * hp, top + 0.56 * hp, bx - 0.06 * hp, bx + 0.06 * hp,
                    person.bag_colour)


def _tracklet_pose(config: SynthConfig, person: _Identity, rng: np.random.Generator) -> _Pose:
    h, w = config.height, config.width
    return _Pose(
        cx=w * (0.5 + rng.uniform(-0.05, 0.05)),
        foot=h * rng.uniform(0.95, 0.985),
        height=h * rng.uniform(0.8, 0.9) * person.height_factor,
        phase=float(rng.uniform(0, 2 * np.pi)),
        facing=int(rng.choice([-1, 1])),
        light=float(rng.uniform(0.9, 1.1)),
    )


def _frame_pose(base: _Pose, step: int, rng: np.random.Generator) -> _Pose:
    """Consecutive frames differ by a fraction of a pixel, a percent of scale and light."""
    return dataclasses.replace(
        base, cx=base.cx + rng.normal(0, 0.4), foot=base.foot + rng.normal(0, 0.3),
        height=base.height * (1 + rng.normal(0, 0.008)), phase=base.phase + 0.15 * step,
        light=base.light * (1 + rng.normal(0, 0.01)))


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with edge padding (sigma in pixels; < 0.1 means none)."""
    if sigma < 0.1:
        return image
    radius = max(1, int(math.ceil(2 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).astype(np.float32)
    taps /= taps.sum()
    h, w = image.shape[:2]
    padded = np.pad(image, [(radius, radius), (0, 0), (0, 0)], mode="edge")
    image = sum(t * padded[k:k + h] for k, t in enumerate(taps))
    padded = np.pad(image, [(0, 0), (radius, radius), (0, 0)], mode="edge")
    return sum(t * padded[:, k:k + w] for k, t in enumerate(taps))


def _draw_outlier(config: SynthConfig, canvas: np.ndarray, kind: str, person: _Identity,
                  second: _Identity | None, pose: _Pose, rng: np.random.Generator) -> None:
    """Draw a two_people / occlusion / truncation crop of ``person`` (in place)."""
    h, w = config.height, config.width
    if kind == TWO_PEOPLE:
        side = int(rng.choice([-1, 1]))
        poses = [dataclasses.replace(pose, cx=w * (0.5 + side * s * rng.uniform(0.17, 0.24)),
                                     height=pose.height * 0.9) for s in (1, -1)]
        order = [(person, poses[0]), (second, poses[1])]
        for p, q in (order if rng.random() < 0.5 else order[::-1]):
            _draw_person(canvas, p, q)
    elif kind == OCCLUSION:
        _draw_person(canvas, person, pose)
        fraction = rng.uniform(0.5, 0.7)
        colour = _random_colour(rng)
        if rng.random() < 0.5:  # a pole / pillar covering a vertical band
            x0 = rng.uniform(0, w * (1 - fraction))
            _paint_rect(canvas, 0, h, x0, x0 + fraction * w, colour)
        else:  # a car / bench / counter covering the bottom, or an awning on top
            y0 = h * (1 - fraction) if rng.random() < 0.75 else 0.0
            _paint_rect(canvas, y0, y0 + fraction * h, 0, w, colour)
    else:  # truncation: only the top rows of the person, or a side sliver, are in the crop
        if rng.random() < 0.6:
            visible = rng.uniform(0.2, 0.35)
            pose = dataclasses.replace(pose, foot=h + pose.height * (1 - visible))
        else:  # the body reaches about `reach` pixels either side of its centre
            reach = 0.17 * pose.height * person.width_factor
            visible = rng.uniform(0.4, 0.9) * reach
            cx = w - visible + reach if rng.random() < 0.5 else visible - reach
            pose = dataclasses.replace(pose, cx=cx)
        _draw_person(canvas, person, pose)


@dataclass(frozen=True)
class Scene:
    """What every crop of a world shares: its config, camera styles and identity looks."""

    config: SynthConfig
    cameras: dict[int, _Camera]
    people: dict[int, _Identity]


def build_scene(config: SynthConfig) -> Scene:
    """Camera styles and identity appearances of a world, computed once.

    Parameters
    ----------
    config:
        The world's configuration.
    """
    num_ids = config.num_train_ids + config.num_test_ids
    return Scene(config,
                 {cam: _camera_style(config, cam) for cam in range(1, config.num_cameras + 1)},
                 {pid: _identity_appearance(config, pid) for pid in range(1, num_ids + 1)})


def render_shot(scene: Scene, shot: Shot) -> np.ndarray:
    """Pixels (H x W x 3 uint8) of one planned crop.

    Parameters
    ----------
    scene:
        From :func:`build_scene`.
    shot:
        One entry of :func:`plan_world`.
    """
    config, camera = scene.config, scene.cameras[shot.camid]
    tracklet_rng = _rng(config, _S_POSE, shot.tracklet)
    frame_rng = _rng(config, _S_FRAME, shot.tracklet, shot.step)
    canvas = np.roll(camera.background, int(tracklet_rng.integers(config.width)), axis=1)
    if shot.true_pid == 0:  # distractor: a partly visible stranger
        person = _identity_appearance(config, -shot.tracklet)
        pose = _tracklet_pose(config, person, tracklet_rng)
        kind = OCCLUSION if frame_rng.random() < 0.5 else TRUNCATION
        _draw_outlier(config, canvas, kind, person, None, pose, frame_rng)
    else:
        person = scene.people[shot.true_pid]
        pose = _frame_pose(_tracklet_pose(config, person, tracklet_rng), shot.step, frame_rng)
        if shot.kind in OUTLIER_KINDS:
            _draw_outlier(config, canvas, shot.kind, person, scene.people.get(shot.other_pid),
                          pose, frame_rng)
        else:
            _draw_person(canvas, person, pose)
    image = _blur(canvas * (camera.gain * np.float32(pose.light)), camera.blur)
    image += frame_rng.standard_normal(image.shape, dtype=np.float32) * np.float32(camera.noise)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------
# Writing and reading a world.
# ----------------------------------------------------------------------------------------

def _check_destination(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ReidPruneError(f"{out_dir} exists and is not a folder; choose another output folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ReidPruneError(
            f"{out_dir} exists and is not empty; choose another folder or pass overwrite=True")


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
    _check_destination(out_dir, overwrite)
    plan = plan_world(config)
    rows = _ground_truth_rows(plan)
    scene = build_scene(config)
    from reidprune.progress import progress as progress_bar

    with atomic_path(out_dir, directory=True) as tmp:
        for folder in _SPLIT_DIRS.values():
            (tmp / folder).mkdir()
        for shot, row in progress_bar(list(zip(plan, rows)), desc="synth", unit="img", enabled=progress):
            Image.fromarray(render_shot(scene, shot)).save(
                tmp / row["path"], format="JPEG", quality=config.jpeg_quality)
        _write_csv(tmp / GROUND_TRUTH_FILE, rows)
        config_json = json.dumps(dataclasses.asdict(config), indent=2, sort_keys=True)
        (tmp / CONFIG_FILE).write_text(config_json + "\n", encoding="utf-8")
    return out_dir


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
                if c in _INT_COLUMNS:
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
    gt = {c: np.asarray(v, dtype=np.int64 if c in _INT_COLUMNS else str)
          for c, v in columns.items()}
    _check_ground_truth(path, gt)
    return gt
