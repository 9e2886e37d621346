"""Property tests: whatever the files contain, loaders either work or raise ReidPruneError."""
from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from reidprune.data.images import decode_image
from reidprune.data.layouts import SkippedFilesWarning, load_dataset, read_dataset
from reidprune.data.layouts.market import MARKET_PATTERN, compile_name_pattern, parse_name
from reidprune.errors import ReidPruneError

SAFE_CHARS = "0123456789_-cs" + "abxyzCS"
EXTENSIONS = [".jpg", ".JPG", ".jpeg", ".png", ".bmp", ".txt", ""]


def image_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (8, 4, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


VALID_IMAGES = [image_bytes(fmt) for fmt in ("JPEG", "PNG", "BMP", "GIF")]

file_names = st.tuples(st.text(alphabet=SAFE_CHARS, min_size=1, max_size=24),
                       st.sampled_from(EXTENSIONS)).map("".join)
market_files = st.lists(st.tuples(st.sampled_from(["bounding_box_train", "query",
                                                   "bounding_box_test"]), file_names),
                        max_size=12, unique=True)


@settings(max_examples=40, deadline=None)
@given(files=market_files, on_bad_name=st.sampled_from(["raise", "skip"]))
def test_market_random_file_names(files, on_bad_name):
    regex = compile_name_pattern(MARKET_PATTERN)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("bounding_box_train", "query", "bounding_box_test"):
            (root / folder).mkdir()
        for folder, name in files:
            (root / folder / name).write_bytes(b"")  # names only: nothing is decoded
        try:
            loaded = read_dataset(root, on_bad_name=on_bad_name)
        except ReidPruneError:
            return
        images = [(f, n) for f, n in files if n.lower().endswith((".jpg", ".jpeg", ".png", ".bmp"))]
        parsed = {(f, n): parse_name(n, regex) for f, n in images}
        kept = sorted(f"{f}/{n}" for (f, n), p in parsed.items() if p is not None and p[0] != -1)
        assert loaded.table.relative_paths().tolist() == kept
        assert sum(loaded.skipped.values()) == len(images) - len(kept)
        assert on_bad_name == "skip" or "bad_name" not in loaded.skipped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkippedFilesWarning)
            assert len(load_dataset(root, on_bad_name=on_bad_name)) == len(kept)


image_contents = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.sampled_from(VALID_IMAGES), st.integers(0, 400)).map(lambda t: t[0][: t[1]]),
    st.tuples(st.sampled_from([v[:24] for v in VALID_IMAGES]), st.binary(max_size=300))
    .map(lambda t: t[0] + t[1]),
    st.tuples(st.sampled_from(VALID_IMAGES), st.integers(0, 10_000), st.binary(min_size=1, max_size=8))
    .map(lambda t: t[0][: t[1] % len(t[0])] + t[2] + t[0][t[1] % len(t[0]) + len(t[2]):]),
)


@settings(max_examples=40, deadline=None)
@given(content=image_contents, suffix=st.sampled_from([".jpg", ".png", ".bmp"]))
def test_decode_random_bytes(content, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(content)
        try:
            array = decode_image(path)
        except ReidPruneError as err:
            assert str(path) in str(err)
            return
        assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3


CAMERA_NAMES = ["0000_000_01_0303morning_0015_0.jpg", "0001_004_15_0303noon_0001_1.jpg"]
list_lines = st.one_of(
    st.tuples(st.sampled_from(["0000/", "0001/", "train/0000/", "", "../", "/"]),
              st.sampled_from(CAMERA_NAMES + ["0000_000.jpg", "a_b_c.jpg"]),
              st.sampled_from([" ", "\t", "  "]),
              st.sampled_from(["0", "1", "17", "-1", "x", "", "99999999999999999999999"]))
    .map("".join),
    st.text(max_size=40),
    st.just(""),
)


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(list_lines, max_size=8))
def test_msmt17_random_list_lines(lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for folder in ("0000", "0001"):
            for name in CAMERA_NAMES:
                (root / "train" / folder).mkdir(parents=True, exist_ok=True)
                (root / "train" / folder / name).write_bytes(b"")
        (root / "list_train.txt").write_text("\n".join(lines), encoding="utf-8")
        try:
            table = load_dataset(root, "msmt17")
        except ReidPruneError:
            return
        listed = [line for line in "\n".join(lines).split("\n") if line.strip()]
        assert len(table) == len(listed)
        assert (table.split == "train").all() and set(table.camid.tolist()) <= {1, 15}
