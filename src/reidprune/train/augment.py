"""Batch augmentation on uint8 tensors with an explicit generator (flip, pad-crop, erasing).

The operations are torchvision's; only the random parameters are drawn here, from a
generator seeded per (seed, epoch, step), so resumed runs replay the same pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5  # probability of a horizontal flip
    pad: int = 10  # pixels of zero padding before the random crop back to size
    erasing: float = 0.5  # probability of random erasing (Zhong et al. 2020)
    erase_area: tuple[float, float] = (0.02, 0.4)
    erase_ratio: tuple[float, float] = (0.3, 3.3)


def step_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    # modulo 2**64: torch seeds are 64-bit, and large --seed values would overflow (smaller ones are unchanged)
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_003 + step) % 2 ** 64)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 B x 3 x H x W -> float, ImageNet mean/std."""
    x = images.float().div_(255)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def augment(images: torch.Tensor, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Augment a uint8 batch and return it normalised (float)."""
    b, _, h, w = images.shape
    flips = torch.rand(b, generator=gen) < config.flip
    offsets = torch.randint(0, 2 * config.pad + 1, (b, 2), generator=gen) if config.pad else None
    out = images.clone()
    if flips.any():
        out[flips.to(out.device)] = TF.horizontal_flip(out[flips.to(out.device)])
    if offsets is not None:
        padded = TF.pad(out, [config.pad] * 4, fill=0)
        out = torch.stack([TF.crop(padded[i], int(offsets[i, 0]), int(offsets[i, 1]), h, w)
                           for i in range(b)])
    x = normalize(out)
    for i in torch.nonzero(torch.rand(b, generator=gen) < config.erasing).flatten().tolist():
        box = _erase_box(h, w, config, gen)
        if box is not None:
            top, left, eh, ew = box
            x[i] = TF.erase(x[i], top, left, eh, ew, torch.zeros(3, eh, ew, device=x.device))
    return x


def _erase_box(h: int, w: int, config: AugmentConfig, gen: torch.Generator):
    lo, hi = config.erase_area
    rlo, rhi = (math.log(r) for r in config.erase_ratio)
    for _ in range(10):
        u = torch.rand(4, generator=gen).tolist()
        area = h * w * (lo + (hi - lo) * u[0])
        ratio = math.exp(rlo + (rhi - rlo) * u[1])
        eh, ew = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 0 < eh < h and 0 < ew < w:
            return int(u[2] * (h - eh + 1)), int(u[3] * (w - ew + 1)), eh, ew
    return None
