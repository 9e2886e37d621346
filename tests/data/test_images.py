"""Strict image decoding and the threaded, resizing batch loader."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reidprune.data.images import decode_image, load_images
from reidprune.data.layouts import SkippedFilesWarning
from reidprune.data.table import make_table
from reidprune.errors import ReidPruneError


def pattern(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def save(array: np.ndarray, path: Path, **kwargs) -> Path:
    Image.fromarray(array).save(path, **kwargs)
    return path


def jpeg_bytes(height: int = 64, width: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pattern(height, width, 0)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


# ---------------------------------------------------------------- decode_image


def test_png_decodes_exactly(tmp_path):
    pixels = pattern(8, 4, 1)
    decoded = decode_image(save(pixels, tmp_path / "a.png"))
    assert decoded.dtype == np.uint8 and decoded.shape == (8, 4, 3)
    assert np.array_equal(decoded, pixels)


def test_jpeg_decodes_close_to_source(tmp_path):
    pixels = np.full((8, 4, 3), (200, 40, 90), dtype=np.uint8)
    decoded = decode_image(save(pixels, tmp_path / "a.jpg", quality=100))
    assert decoded.shape == (8, 4, 3)
    assert np.abs(decoded.astype(int) - pixels).max() <= 3


def test_grayscale_becomes_three_equal_channels(tmp_path):
    gray = np.arange(32, dtype=np.uint8).reshape(8, 4) * 7
    decoded = decode_image(save(gray, tmp_path / "g.png"))
    assert np.array_equal(decoded, np.repeat(gray[..., None], 3, axis=2))


def test_rgba_drops_alpha(tmp_path):
    rgba = np.concatenate([pattern(8, 4, 2), np.full((8, 4, 1), 10, np.uint8)], axis=2)
    decoded = decode_image(save(rgba, tmp_path / "a.png"))
    assert np.array_equal(decoded, rgba[..., :3])


def test_palette_maps_to_palette_colors(tmp_path):
    image = Image.new("P", (4, 8))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    index = np.array([[0, 1, 2, 1]] * 8, dtype=np.uint8)
    image.putdata(index.ravel().tolist())
    image.save(tmp_path / "p.png")
    decoded = decode_image(tmp_path / "p.png")
    colors = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=np.uint8)
    assert np.array_equal(decoded, colors[index])


def test_16_bit_grayscale_keeps_the_high_byte(tmp_path):
    values = np.array([[0, 255, 256, 65535]] * 8, dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    decoded = decode_image(tmp_path / "deep.png")
    assert decoded[0, :, 0].tolist() == [0, 0, 1, 255]
    assert np.array_equal(decoded[..., 0], decoded[..., 2])


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ReidPruneError, match=r"empty\.jpg: the image file is empty \(0 bytes\)"):
        decode_image(tmp_path / "empty.jpg")


def test_truncated_jpeg(tmp_path):
    data = jpeg_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ReidPruneError, match=r"cut\.jpg: the image is truncated"):
        decode_image(tmp_path / "cut.jpg")
    (tmp_path / "whole.jpg").write_bytes(data)
    assert decode_image(tmp_path / "whole.jpg").shape == (64, 48, 3)


def test_random_bytes_named_jpg(tmp_path):
    (tmp_path / "noise.jpg").write_bytes(np.random.default_rng(3).bytes(500))
    with pytest.raises(ReidPruneError, match=r"noise\.jpg: not an image PIL can read"):
        decode_image(tmp_path / "noise.jpg")


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    with pytest.raises(ReidPruneError, match=r"notes\.png: not an image PIL can read"):
        decode_image(tmp_path / "notes.png")


def test_png_with_damaged_data(tmp_path):
    data = bytearray(save(pattern(32, 32, 4), tmp_path / "ok.png").read_bytes())
    data[60:80] = b"\x00" * 20  # inside the compressed IDAT stream
    (tmp_path / "bad.png").write_bytes(bytes(data))
    with pytest.raises(ReidPruneError, match=r"bad\.png: the image is (corrupt|truncated)"):
        decode_image(tmp_path / "bad.png")


def test_missing_file(tmp_path):
    with pytest.raises(ReidPruneError, match=r"gone\.jpg: cannot read the image"):
        decode_image(tmp_path / "gone.jpg")


# ---------------------------------------------------------------- load_images


def file_table(tmp_path: Path, arrays: list[np.ndarray]):
    paths = [save(a, tmp_path / f"{i:04d}_c1.png") for i, a in enumerate(arrays)]
    return make_table(tmp_path, "test", [str(p) for p in paths], list(range(len(paths))),
                      [1] * len(paths), ["train"] * len(paths))


def reference(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL bilinear resize to (height, width), channels first."""
    resized = Image.fromarray(array).resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized).transpose(2, 0, 1)


def test_load_images_resizes_in_row_order(tmp_path):
    arrays = [pattern(8, 4, 10), pattern(12, 6, 11), pattern(6, 3, 12), pattern(20, 9, 13)]
    table = file_table(tmp_path, arrays)
    images, ok = load_images(table, size=(6, 3), workers=3, progress=False)
    assert images.dtype == torch.uint8 and tuple(images.shape) == (4, 3, 6, 3)
    assert ok.dtype == np.bool_ and ok.tolist() == [True] * 4
    for row, array in enumerate(arrays):
        assert np.array_equal(images[row].numpy(), reference(array, (6, 3)))
    assert np.array_equal(images[2].numpy(), arrays[2].transpose(2, 0, 1))  # already 6 x 3
    single, _ = load_images(table, size=(6, 3), workers=1, progress=False)
    assert torch.equal(images, single)


def test_load_images_from_in_memory_pixels(tmp_path):
    pixels = np.stack([pattern(32, 32, s) for s in range(3)])
    table = make_table(tmp_path, "cifar100", [f"train#{i:05d}" for i in range(3)], [4, 1, 4],
                       [-1] * 3, ["train"] * 3, pixels=pixels)
    images, ok = load_images(table, size=(16, 8), progress=False)
    assert ok.all()
    for row in range(3):
        assert np.array_equal(images[row].numpy(), reference(pixels[row], (16, 8)))
    same, _ = load_images(table, size=(32, 32), progress=False)
    assert np.array_equal(same.numpy(), pixels.transpose(0, 3, 1, 2))


def bad_table(tmp_path: Path):
    arrays = [pattern(8, 4, s) for s in range(5)]
    table = file_table(tmp_path, arrays)
    Path(table.path[1]).write_bytes(b"")
    Path(table.path[3]).write_bytes(b"not an image")
    return table, arrays


def test_load_images_skip_marks_rows_and_warns(tmp_path):
    table, arrays = bad_table(tmp_path)
    with pytest.warns(SkippedFilesWarning, match=r"skipped 2 of 5 unreadable image\(s\).*"
                                                 r"first: .*0001_c1\.png: the image file is empty"):
        images, ok = load_images(table, size=(8, 4), on_error="skip", workers=2, progress=False)
    assert ok.tolist() == [True, False, True, False, True]
    assert int(images[1].sum()) == 0 and int(images[3].sum()) == 0
    for row in (0, 2, 4):
        assert np.array_equal(images[row].numpy(), arrays[row].transpose(2, 0, 1))


def test_load_images_raise_names_first_bad_file(tmp_path):
    table, _ = bad_table(tmp_path)
    with pytest.raises(ReidPruneError, match=r"0001_c1\.png: the image file is empty"):
        load_images(table, size=(8, 4), workers=4, progress=False)


def test_load_images_without_warning_when_all_good(tmp_path):
    table = file_table(tmp_path, [pattern(8, 4, 0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images, ok = load_images(table, size=(8, 4), on_error="skip", progress=False)
    assert images.shape == (1, 3, 8, 4) and ok.all()


def test_load_images_progress_bar(tmp_path, capsys):
    table = file_table(tmp_path, [pattern(8, 4, 0), pattern(8, 4, 1)])
    load_images(table, size=(4, 2), progress=False)
    assert capsys.readouterr().err == ""
    load_images(table, size=(4, 2), progress=True)
    assert capsys.readouterr().err.startswith("decoding images: 2 img, ")  # stderr is not a TTY: one line


@pytest.mark.parametrize("kwargs, message", [
    ({"size": (0, 4)}, "size must be two positive integers"),
    ({"size": 8}, r"size must be \(height, width\)"),
    ({"size": (8, 4.5)}, "size must be two positive integers"),
    ({"size": (8, 4), "on_error": "ignore"}, "on_error must be 'raise' or 'skip'"),
    ({"size": (8, 4), "workers": 0}, "workers must be a positive integer"),
])
def test_load_images_validates_arguments(tmp_path, kwargs, message):
    table = file_table(tmp_path, [pattern(8, 4, 0)])
    with pytest.raises(ReidPruneError, match=message):
        load_images(table, progress=False, **kwargs)
