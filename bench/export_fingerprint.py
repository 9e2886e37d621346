"""Fingerprints of a `run` / `prune` output folder, timings left out: two folders with the same lines
made the same decisions and wrote the same files (the check behind a refactoring that must not change
behaviour, issue 28).

    reidprune synth /tmp/w -q && reidprune run /tmp/w --out /tmp/a --preset small --epochs 4 -q
    python bench/export_fingerprint.py /tmp/a > before.txt   # ... refactor, run again into /tmp/b
    python bench/export_fingerprint.py /tmp/b | diff before.txt -
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

TIMINGS = {"seconds"}


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def fingerprints(out: Path) -> list[str]:
    lines = []
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != ".reidprune.lock"):
        name = str(path.relative_to(out))
        if path.suffix == ".json":
            data = json.dumps(_without_timings(json.loads(path.read_text())), sort_keys=True).encode()
            lines.append(f"{_digest(data)}  {name}")
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as arrays:
                for key in sorted(arrays.files):
                    value = arrays[key]
                    if key == "meta":  # the score file's JSON header
                        value = np.array(json.dumps(_without_timings(json.loads(str(value))), sort_keys=True))
                    lines.append(f"{_digest(value.tobytes() + str(value.dtype).encode())}  {name}:{key}")
        else:
            lines.append(f"{_digest(path.read_bytes())}  {name}")
    return lines


if __name__ == "__main__":
    print("\n".join(fingerprints(Path(sys.argv[1]))))
