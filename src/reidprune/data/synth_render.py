"""Drawing a synthetic ReID world: identity looks, camera styles and the crops themselves.

Every crop is a camera background with one pedestrian (head, hair, shirt, arms, trousers,
shoes, optional bag or stripes) drawn by Pillow's ``ImageDraw``, then lit, blurred
(``ImageFilter.GaussianBlur``) and given sensor noise. Every random draw comes from a
per-entity stream (:func:`reidprune.data.synth_world.entity_rng`), so a crop depends only on
the seed and on who, where and when it shows.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from reidprune.data.synth_world import (
    OCCLUSION, OUTLIER_KINDS, STREAM_CAMERA, STREAM_DISTRACTOR, STREAM_FRAME, STREAM_IDENTITY,
    STREAM_POSE, TRUNCATION, TWO_PEOPLE, Shot, SynthConfig, entity_rng,
)

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
    rng = entity_rng(config, STREAM_IDENTITY, pid, 0)
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
    rng = entity_rng(config, STREAM_IDENTITY, pid, 1) if pid > 0 else entity_rng(config, STREAM_DISTRACTOR, -pid, 1)
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
    rng = entity_rng(config, STREAM_CAMERA, cam)
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


# Shapes are drawn by Pillow at SUPERSAMPLE times the crop size and box-filtered down, which
# gives them soft (anti-aliased) edges and lets sub-pixel motion between frames show.
SUPERSAMPLE = 4


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(np.rint(colour), 0, 255))


class _Canvas:
    """One crop being drawn; coordinates in crop pixels (pixel (i, j) spans [i, i+1) x [j, j+1)).

    Parameters
    ----------
    background:
        H x W x 3 float array, 0..255: what the shapes are drawn over.
    """

    def __init__(self, background: np.ndarray):
        h, w = background.shape[:2]
        self.size = (w, h)
        small = Image.fromarray(np.clip(background + 0.5, 0, 255).astype(np.uint8))
        self.image = small.resize((w * SUPERSAMPLE, h * SUPERSAMPLE), Image.NEAREST)
        self.draw = ImageDraw.Draw(self.image)

    def rect(self, y0: float, y1: float, x0: float, x1: float, colour: np.ndarray) -> None:
        """Fill the rectangle [y0, y1) x [x0, x1) with ``colour`` (RGB, 0..255)."""
        box = [round(v * SUPERSAMPLE) for v in (x0, y0, x1, y1)]
        if box[2] > box[0] and box[3] > box[1]:
            self.draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=_rgb(colour))

    def ellipse(self, cy: float, cx: float, ry: float, rx: float, colour: np.ndarray,
                y_max: float = math.inf) -> None:
        """Fill an axis-aligned ellipse, optionally only above the row ``y_max`` (hair on a head)."""
        if rx <= 0 or ry <= 0:
            return
        box = [(cx - rx) * SUPERSAMPLE, (cy - ry) * SUPERSAMPLE, (cx + rx) * SUPERSAMPLE,
               (cy + ry) * SUPERSAMPLE]
        if y_max == math.inf:
            self.draw.ellipse(box, fill=_rgb(colour))
            return
        mask = Image.new("L", self.image.size, 0)
        shape = ImageDraw.Draw(mask)
        shape.ellipse(box, fill=255)
        shape.rectangle([0, round(y_max * SUPERSAMPLE), *self.image.size], fill=0)
        self.image.paste(_rgb(colour), mask=mask)

    def pixels(self) -> np.ndarray:
        """The crop at its own size: H x W x 3 float32, each pixel the mean of its subpixels."""
        return np.asarray(self.image.resize(self.size, Image.BOX), dtype=np.float32)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur by Pillow (sigma in pixels; < 0.1 means none); float in, float out."""
    if sigma < 0.1:
        return image
    picture = Image.fromarray(np.clip(image + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(picture.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32)


@dataclass(frozen=True)
class _Pose:
    cx: float  # body centre column
    foot: float  # row of the soles
    height: float  # person height in pixels
    phase: float  # walking phase (leg and arm swing)
    facing: int  # +1 towards the camera, -1 away
    light: float  # tracklet-level brightness


def _draw_person(canvas: _Canvas, person: _Identity, pose: _Pose) -> None:
    """Draw one pedestrian into ``canvas`` (in place).

    Parameters
    ----------
    canvas:
        The crop being drawn.
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
        canvas.rect(waist - 1, top + 0.95 * hp, lx - leg_w, lx + leg_w, person.trousers)
        canvas.rect(top + 0.95 * hp, pose.foot, lx - leg_w - 0.01 * hp,
                    lx + leg_w + 0.015 * hp, person.shoes)
    if person.bag == _BACKPACK and pose.facing > 0:
        canvas.rect(top + 0.17 * hp, top + 0.42 * hp, cx - half * 1.1, cx + half * 1.1,
                    person.bag_colour)
    shoulder = top + 0.15 * hp
    canvas.ellipse(shoulder + 0.05 * hp, cx, 0.05 * hp, half, person.shirt)
    canvas.rect(shoulder + 0.05 * hp, waist + 0.01 * hp, cx - half, cx + half, person.shirt)
    if person.stripe is not None:  # horizontal stripes across the torso
        period = 0.05 * hp
        for k in range(int((waist - shoulder) / period)):
            y = shoulder + 0.06 * hp + k * period
            if k % 2 == 0 and y < waist:
                canvas.rect(y, min(y + period / 2, waist), cx - half, cx + half,
                            person.stripe)
    arm_w = 0.045 * hp
    for side in (-1, 1):  # arms swing against the legs
        ax = cx + side * (half + arm_w / 2) - side * 0.01 * hp
        dy = -side * 0.015 * hp * swing
        sleeve_end = top + (0.28 if person.short_sleeves else 0.45) * hp + dy
        canvas.rect(shoulder + 0.02 * hp, sleeve_end, ax - arm_w / 2, ax + arm_w / 2,
                    person.shirt)
        if person.short_sleeves:
            forearm = arm_w / 2.4
            canvas.rect(sleeve_end, top + 0.45 * hp + dy, ax - forearm, ax + forearm,
                        person.skin)
        canvas.ellipse(top + 0.47 * hp + dy, ax, 0.025 * hp, arm_w / 2, person.skin)
    head_cy, head_ry, head_rx = top + 0.08 * hp, 0.075 * hp, 0.058 * hp
    if person.long_hair:
        canvas.rect(head_cy, top + 0.25 * hp, cx - head_rx * 1.1, cx + head_rx * 1.1,
                    person.hair)
    canvas.ellipse(head_cy, cx, head_ry, head_rx, person.skin)
    hair_line = head_cy - 0.02 * hp if pose.facing > 0 else head_cy + head_ry
    canvas.ellipse(head_cy - 0.008 * hp, cx, head_ry, head_rx * 1.06, person.hair,
                   y_max=hair_line)
    if person.bag == _BACKPACK and pose.facing < 0:
        canvas.rect(top + 0.17 * hp, top + 0.42 * hp, cx - half * 0.8, cx + half * 0.8,
                    person.bag_colour)
    elif person.bag == _BACKPACK:  # straps seen from the front
        for side in (-1, 1):
            sx = cx + side * half * 0.6
            canvas.rect(shoulder, top + 0.38 * hp, sx - 0.012 * hp, sx + 0.012 * hp,
                        person.bag_colour)
    elif person.bag == _HANDBAG:
        bx = cx + person.bag_side * (half + arm_w * 1.2)
        canvas.rect(top + 0.42 * hp, top + 0.56 * hp, bx - 0.06 * hp, bx + 0.06 * hp,
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


def _draw_outlier(config: SynthConfig, canvas: _Canvas, kind: str, person: _Identity,
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
            canvas.rect(0, h, x0, x0 + fraction * w, colour)
        else:  # a car / bench / counter covering the bottom, or an awning on top
            y0 = h * (1 - fraction) if rng.random() < 0.75 else 0.0
            canvas.rect(y0, y0 + fraction * h, 0, w, colour)
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
    tracklet_rng = entity_rng(config, STREAM_POSE, shot.tracklet)
    frame_rng = entity_rng(config, STREAM_FRAME, shot.tracklet, shot.step)
    canvas = _Canvas(np.roll(camera.background, int(tracklet_rng.integers(config.width)), axis=1))
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
    image = _blur(canvas.pixels() * (camera.gain * np.float32(pose.light)), camera.blur)
    image += frame_rng.standard_normal(image.shape, dtype=np.float32) * np.float32(camera.noise)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)

