"""Fuzzing read_manifest: whatever the file holds, only ReidPruneError may escape."""
from __future__ import annotations

import csv
import io

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reidprune.errors import ReidPruneError
from reidprune.export.manifest import HEADER, read_manifest
from reidprune.select.selection import STATUSES

FUZZ = settings(max_examples=50, deadline=None)

_JUNK_INTS = st.one_of(st.integers(-2 ** 70, 2 ** 70).map(str),
                       st.sampled_from(["", " 1", "1.0", "0x1", "\u0661", "1_0", "+3", "-0"]),
                       st.text(max_size=5))
_JUNK_FLOATS = st.one_of(st.sampled_from(["", "inf", "-inf", "1e999", ".5", "5.", "0x1p3",
                                          "1_0.0", "Infinity"]), st.text(max_size=5))
_JUNK_PATHS = st.one_of(st.sampled_from(["", "p0.jpg", "x,y.jpg", 'q"uote.jpg', "a\nb.jpg"]),
                        st.text(max_size=12))
_JUNK = {0: _JUNK_INTS, 1: _JUNK_PATHS, 2: _JUNK_INTS, 3: _JUNK_INTS, 4: _JUNK_INTS,
         5: _JUNK_INTS, 6: _JUNK_FLOATS, 7: _JUNK_FLOATS, 8: st.text(max_size=8)}
# csv.writer quotes a field with "\n" but not one with a lone "\r" (not in its line terminator)
_NAMES = st.text(st.characters(blacklist_characters="\r\n"), max_size=6)
_FLOATS = st.floats(allow_nan=True, allow_infinity=False).map(repr)


@st.composite
def _rows(draw):
    """A valid manifest with, now and then, one damaged field, row length or header."""
    header = list(HEADER)
    damaged = False
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.lists(st.text(max_size=8), max_size=10))
        damaged = True
    rows = []
    for position in range(draw(st.integers(0, 6))):
        row = [str(position), f"p{position}/{draw(_NAMES)}.jpg",
               str(draw(st.integers(-1, 2 ** 63 - 1))), str(draw(st.integers(-1, 20))),
               str(draw(st.integers(0, 2 ** 63 - 1))),
               str(draw(st.integers(-2 ** 63, 2 ** 63 - 1))),
               draw(_FLOATS), draw(_FLOATS), draw(st.sampled_from(STATUSES))]
        damage = draw(st.integers(0, 14))
        if damage < len(row):
            row[damage] = draw(_JUNK[damage])
            damaged = True
        elif damage == len(row):
            row = row[:draw(st.integers(0, 8))] + draw(st.lists(st.text(max_size=3), max_size=2))
            damaged = True
        rows.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows(
        [header] + rows)
    return buffer.getvalue(), None if damaged else rows


def _read(path, data: bytes):
    path.write_bytes(data)
    try:
        return read_manifest(path)
    except ReidPruneError as exc:
        assert str(path) in str(exc)  # every message names the file
        return None


def _check_invariants(manifest) -> None:
    n = len(manifest)
    np.testing.assert_array_equal(manifest.index, np.arange(n))
    assert len(set(manifest.path.tolist())) == n and all(manifest.path.tolist())
    assert set(manifest.status.tolist()) <= set(STATUSES)
    assert not np.isinf(manifest.entropy).any() and not np.isinf(manifest.max_score).any()
    assert (manifest.assigned_label >= 0).all()
    for column in (manifest.original_id, manifest.camera, manifest.corrected_id):
        assert column.dtype == np.int64 and len(column) == n


@FUZZ
@given(case=_rows())
def test_random_csv_rows_raise_only_reidprune_error(tmp_path_factory, case):
    text, intact_rows = case
    path = tmp_path_factory.mktemp("fuzz") / "m.csv"
    manifest = _read(path, text.encode("utf-8"))
    if manifest is not None:
        _check_invariants(manifest)
    if intact_rows is not None:  # nothing was damaged: it must read back exactly
        assert manifest is not None
        assert manifest.path.tolist() == [row[1] for row in intact_rows]
        assert manifest.original_id.tolist() == [int(row[2]) for row in intact_rows]
        assert manifest.corrected_id.tolist() == [int(row[5]) for row in intact_rows]
        assert [repr(float(v)) for v in manifest.entropy] == [row[6] for row in intact_rows]
        assert manifest.status.tolist() == [row[8] for row in intact_rows]


@FUZZ
@given(text=st.text(max_size=300))
def test_random_text_raises_only_reidprune_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "m.csv"
    manifest = _read(path, (",".join(HEADER) + "\n" + text).encode("utf-8", "surrogatepass"))
    if manifest is not None:
        _check_invariants(manifest)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_reidprune_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "m.csv"
    manifest = _read(path, data)
    if manifest is not None:
        _check_invariants(manifest)
