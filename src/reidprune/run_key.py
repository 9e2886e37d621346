"""Short stable keys for what a run depends on (checkpoints resume only under the same key)."""
from __future__ import annotations

import hashlib
import json


def run_key(parts) -> str:
    """16 hex digits of the SHA-256 of ``parts`` (JSON-able values; NumPy arrays by their bytes).

    Parameters
    ----------
    parts:
        A list (or any JSON-able value) of everything the run depends on; dicts are hashed with
        sorted keys, other objects by ``str``.
    """
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=_encode).encode()).hexdigest()[:16]


def _encode(value) -> str:
    if hasattr(value, "tobytes") and hasattr(value, "dtype"):  # an array: its dtype, shape and values
        digest = hashlib.sha256(f"{value.dtype}{value.shape}".encode())
        digest.update(value.tobytes())
        return digest.hexdigest()
    return str(value)
