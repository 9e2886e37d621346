"""Augmentation: exact flips, crop offsets within the padding, repeatable per generator seed."""
import torch

from reidprune.train.augment import AugmentConfig, augment, normalize, step_generator


def _images():
    return torch.arange(2 * 3 * 8 * 4, dtype=torch.int64).remainder(256).to(torch.uint8).view(2, 3, 8, 4)


def test_no_augmentation_is_plain_normalisation():
    x = _images()
    out = augment(x, AugmentConfig(flip=0.0, pad=0, erasing=0.0), step_generator(0, 1, 0))
    assert torch.allclose(out, normalize(x))


def test_flip_always_mirrors_width():
    x = _images()
    out = augment(x, AugmentConfig(flip=1.0, pad=0, erasing=0.0), step_generator(0, 1, 0))
    assert torch.allclose(out, normalize(x.flip(-1)))


def test_same_seed_same_pixels_other_step_other_pixels():
    x = torch.randint(0, 255, (4, 3, 16, 8), dtype=torch.uint8)
    cfg = AugmentConfig(pad=2)
    a = augment(x, cfg, step_generator(7, 3, 5))
    b = augment(x, cfg, step_generator(7, 3, 5))
    c = augment(x, cfg, step_generator(7, 3, 6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_pad_crop_is_a_shift_of_at_most_pad_pixels():
    x = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    x[0, :, 4, 4] = 255
    out = augment(x, AugmentConfig(flip=0.0, pad=2, erasing=0.0), step_generator(1, 1, 1))
    bright = torch.nonzero(out[0, 0] > 0)
    assert len(bright) == 1
    row, col = bright[0].tolist()
    assert abs(row - 4) <= 2 and abs(col - 4) <= 2


def test_erasing_fills_a_box_with_the_mean_colour():
    x = torch.full((1, 3, 32, 16), 255, dtype=torch.uint8)
    out = augment(x, AugmentConfig(flip=0.0, pad=0, erasing=1.0), step_generator(0, 1, 0))
    erased = (out[0] == 0).all(0)
    assert 0 < erased.sum() < 32 * 16


def test_pad_crop_matches_a_per_image_crop_of_the_padded_image():
    from torchvision.transforms.v2 import functional as TF

    from reidprune.train.augment import _pad_crop

    x = torch.randint(0, 255, (3, 3, 6, 4), dtype=torch.uint8)
    offsets = torch.tensor([[0, 0], [2, 1], [4, 4]])
    padded = TF.pad(x, [2] * 4, fill=0)
    expected = torch.stack([TF.crop(padded[i], int(t), int(l), 6, 4) for i, (t, l) in enumerate(offsets)])
    assert torch.equal(_pad_crop(x, offsets, 2), expected)


def test_erasing_boxes_fit_and_mask_only_chosen_images():
    from reidprune.train.augment import _box_mask, _erase_boxes

    boxes = _erase_boxes(64, 32, 16, AugmentConfig(), step_generator(0, 1, 0))
    top, left, eh, ew = boxes.T
    assert ((eh > 0) & (eh < 32) & (ew > 0) & (ew < 16)).all()
    assert ((top + eh <= 32) & (left + ew <= 16)).all()
    mask = _box_mask(torch.tensor([[1, 2, 3, 4], [0, 0, 5, 5]]), torch.tensor([True, False]), 8, 8)
    assert mask[0].sum() == 12 and mask[0, 0, 1:4, 2:6].all() and not mask[1].any()
def test_step_generator_takes_the_largest_seed():
    from reidprune.train.augment import step_generator

    a, b = step_generator(2 ** 32 - 1, 120, 5000), step_generator(2 ** 32 - 1, 120, 5001)
    assert torch.rand(1, generator=a).item() != torch.rand(1, generator=b).item()
