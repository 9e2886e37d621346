"""The restricted unpickler: numpy arrays and containers load, anything that runs code is refused."""
from __future__ import annotations

import codecs
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest

from reidprune.data.safe_pickle import safe_load_pickle
from reidprune.errors import ReidPruneError

SRC = Path(__file__).resolve().parents[2] / "src" / "reidprune"


def dump(obj, path: Path, protocol: int) -> Path:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_containers_and_arrays_round_trip(tmp_path, protocol):
    obj = {
        "data": np.arange(24, dtype=np.uint8).reshape(4, 6),
        "weights": np.linspace(0, 1, 5, dtype=np.float32),
        "labels": [3, 1, 2],
        "nested": ({"a": b"raw", "b": None}, [1.5, True]),
        "tags": {1, 2},
        "frozen": frozenset({"x"}),
        "buffer": bytearray(b"ab"),
        "scalar": np.int64(7),
    }
    loaded = safe_load_pickle(dump(obj, tmp_path / "ok.pkl", protocol), encoding="latin1")
    assert set(loaded) == set(obj)
    assert np.array_equal(loaded["data"], obj["data"]) and loaded["data"].dtype == np.uint8
    assert np.array_equal(loaded["weights"], obj["weights"]) and loaded["weights"].dtype == np.float32
    assert loaded["labels"] == [3, 1, 2]
    assert loaded["nested"] == ({"a": b"raw", "b": None}, [1.5, True])
    assert loaded["tags"] == {1, 2} and loaded["frozen"] == frozenset({"x"})
    assert loaded["buffer"] == bytearray(b"ab") and loaded["scalar"] == 7


def test_python2_strings_stay_bytes_by_default(tmp_path):
    # Protocol 2 as Python 2 wrote it: {'data': 1} with 'data' a Python 2 str (SHORT_BINSTRING).
    path = tmp_path / "py2.pkl"
    path.write_bytes(b"\x80\x02}q\x00U\x04dataq\x01K\x01s.")
    assert safe_load_pickle(path) == {b"data": 1}
    assert safe_load_pickle(path, encoding="latin1") == {"data": 1}


class RunsCommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Calls:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_os_system_is_refused_before_it_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = dump({"data": RunsCommand(marker)}, tmp_path / "evil.pkl", protocol)
    with pytest.raises(ReidPruneError, match=r"evil\.pkl: refusing to unpickle (posix|os|nt)\.system"):
        safe_load_pickle(path)
    assert not marker.exists()
    pickle.loads(path.read_bytes())  # the fixture really is dangerous: plain pickle runs it
    assert marker.exists()


@pytest.mark.parametrize("func, args, name", [
    (eval, ("1 + 1",), "builtins.eval"),
    (subprocess.check_output, (["true"],), "subprocess.check_output"),
    (np.load, ("x.npy",), "numpy.load"),
    (getattr, ("text", "upper"), "builtins.getattr"),
])
def test_other_globals_are_refused(tmp_path, func, args, name):
    path = dump(Calls(func, *args), tmp_path / "evil.pkl", 4)
    with pytest.raises(ReidPruneError, match=rf"refusing to unpickle {name}"):
        safe_load_pickle(path)


def test_codecs_encode_only_latin1(tmp_path):
    path = dump(Calls(codecs.encode, "abc", "rot13"), tmp_path / "codec.pkl", 2)
    with pytest.raises(ReidPruneError, match=r"codec\.pkl: not a readable pickle .*rot13"):
        safe_load_pickle(path)


def test_damaged_files(tmp_path):
    good = dump({"data": np.zeros(100, np.uint8)}, tmp_path / "good.pkl", 2).read_bytes()
    (tmp_path / "cut.pkl").write_bytes(good[: len(good) // 2])
    with pytest.raises(ReidPruneError, match=r"cut\.pkl: not a readable pickle"):
        safe_load_pickle(tmp_path / "cut.pkl")
    (tmp_path / "text.pkl").write_text("hello world")
    with pytest.raises(ReidPruneError, match=r"text\.pkl: not a readable pickle"):
        safe_load_pickle(tmp_path / "text.pkl")
    with pytest.raises(ReidPruneError, match=r"cannot read .*missing\.pkl"):
        safe_load_pickle(tmp_path / "missing.pkl")


def test_no_plain_pickle_load_in_the_package():
    for source in SRC.rglob("*.py"):
        text = source.read_text()
        assert "pickle.load(" not in text and "pickle.loads(" not in text, source
