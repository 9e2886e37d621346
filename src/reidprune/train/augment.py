"""Batch augmentation on uint8 tensors with an explicit generator (flip, pad-crop, erasing).

Every operation is one tensor op on the whole batch (no per-image Python loop), so the same
code runs on the CPU and, with the batch already on the GPU, on the device. The random
parameters are drawn on the CPU from a generator seeded per (seed, epoch, step), so resumed
runs replay the same pixels whatever the device.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from reidprune.train.config import AugmentConfig  # beside TrainConfig, so the config imports no torch

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
ERASE_TRIES = 10  # attempts at an erasing box that fits, as in torchvision's RandomErasing


def step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    # modulo 2**64: torch seeds are 64-bit, and large --seed values would overflow (smaller ones are unchanged)
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + step) % 2 ** 64)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 B x 3 x H x W -> float, ImageNet mean/std."""
    x = torch.as_tensor(images).float().div_(255)
    mean, std = _stats(x.device)
    return (x - mean) / std


_STATS: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """MEAN and STD on ``device``, copied there once (a copy per step would wait for the GPU)."""
    if device not in _STATS:
        _STATS[device] = (MEAN.to(device), STD.to(device))
    return _STATS[device]


def augment(images: torch.Tensor, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Augment a uint8 batch (B x 3 x H x W, on any device) and return it normalised (float).

    ``gen`` is a CPU generator; the draws do not depend on the batch's device.
    """
    b, _, h, w = images.shape
    device = images.device
    flips = torch.rand(b, generator=gen) < config.flip
    offsets = torch.randint(0, 2 * config.pad + 1, (b, 2), generator=gen) if config.pad else None
    erase = torch.rand(b, generator=gen) < config.erasing
    boxes = _erase_boxes(b, h, w, config, gen)  # drawn for every image: a fixed number of draws
    x = torch.where(flips.to(device, non_blocking=True).view(b, 1, 1, 1), images.flip(-1), images)
    if offsets is not None:
        x = _pad_crop(x, offsets.to(device, non_blocking=True), config.pad)
    x = normalize(x)
    if config.erasing > 0:
        x = x.masked_fill(_box_mask(boxes.to(device, non_blocking=True), erase.to(device, non_blocking=True),
                                    h, w), 0.0)
    return x


def _pad_crop(x: torch.Tensor, offsets: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad by ``pad`` and crop each image back to H x W at its (top, left) offset."""
    b, c, h, w = x.shape
    padded = F.pad(x, [pad] * 4)
    rows = (offsets[:, 0:1] + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (offsets[:, 1:2] + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


def _erase_boxes(b: int, h: int, w: int, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(top, left, height, width) per image (int64 B x 4); height 0 where no try fitted.

    Area and log-aspect-ratio are uniform as in torchvision's RandomErasing; the first of
    ``ERASE_TRIES`` tries that fits inside the image is kept.
    """
    u = torch.rand(b, ERASE_TRIES, 4, generator=gen, dtype=torch.float64)
    lo, hi = config.erase_area
    rlo, rhi = (math.log(r) for r in config.erase_ratio)
    area = h * w * (lo + (hi - lo) * u[..., 0])
    ratio = torch.exp(rlo + (rhi - rlo) * u[..., 1])
    eh = torch.round(torch.sqrt(area * ratio)).long()
    ew = torch.round(torch.sqrt(area / ratio)).long()
    fits = (eh > 0) & (eh < h) & (ew > 0) & (ew < w)
    first = torch.where(fits.any(1), fits.to(torch.int8).argmax(1), 0)
    pick = lambda t: t.gather(1, first.view(b, 1)).squeeze(1)  # noqa: E731
    eh, ew = pick(eh) * fits.any(1), pick(ew)
    top = (pick(u[..., 2]) * (h - eh + 1)).long()
    left = (pick(u[..., 3]) * (w - ew + 1)).long()
    return torch.stack([top, left, eh, ew], 1)


def _box_mask(boxes: torch.Tensor, apply: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Bool B x 1 x H x W, True inside each applied box."""
    top, left, eh, ew = (boxes[:, i].view(-1, 1, 1, 1) for i in range(4))
    rows = torch.arange(h, device=boxes.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=boxes.device).view(1, 1, 1, w)
    inside = (rows >= top) & (rows < top + eh) & (cols >= left) & (cols < left + ew)
    return inside & apply.view(-1, 1, 1, 1)
