"""Progress reporting that reads well on a terminal and in a log file.

On a terminal (stderr is a TTY, or inside a Jupyter kernel) :func:`progress` is a tqdm bar.
When stderr is redirected (``reidprune score ... 2> log``, a batch job, CI) a bar would write
thousands of carriage returns; there it prints one line per phase instead, when the phase ends
(``epoch 3/12: 113 it, loss=4.21, 38.2 s``), plus one interim line every ``interval`` seconds
(5 minutes) for very long phases, so a log of epochs reads one line per epoch.
``enabled=False`` (the CLI's ``--quiet``) prints nothing at all.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TextIO

# A phase longer than this prints an interim line (decoding a million images, a GPU-less ResNet-50 epoch).
DEFAULT_INTERVAL = 300.0


def progress(iterable: Iterable | None = None, *, desc: str, total: int | None = None, unit: str = "it",
             enabled: bool = True, interval: float = DEFAULT_INTERVAL, stream: TextIO | None = None):
    """A progress reporter for one phase: iterate over it, or call ``update(n)`` yourself.

    Parameters
    ----------
    iterable:
        What to iterate over (optional; use ``update`` when None).
    desc:
        The phase's name, the start of every line (``"epoch 3/12"``, ``"decoding images"``).
    total:
        Expected number of steps (default ``len(iterable)`` when it has one).
    unit:
        What a step is called (``"it"``, ``"img"``, ``"batch"``).
    enabled:
        False prints nothing (``--quiet``).
    interval:
        When not on a terminal, seconds between interim lines of a long phase.
    stream:
        Where to write (default: ``sys.stderr`` at the time of the call).

    Returns
    -------
    A tqdm bar on a terminal, else a :class:`LineProgress`; both support iteration,
    ``update(n)``, ``set_postfix(**values)``, ``close()`` and ``with``.
    """
    stream = sys.stderr if stream is None else stream
    if enabled and _interactive(stream):
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, file=stream)
    return LineProgress(iterable, desc=desc, total=total, unit=unit, enabled=enabled, interval=interval,
                        stream=stream)


def _interactive(stream) -> bool:
    """A terminal or a notebook: somewhere a redrawn bar is read, not logged."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return "ipykernel" in sys.modules and stream is sys.stderr


class LineProgress:
    """One summary line per phase (and one per ``interval`` seconds of a long phase), no ``\\r``."""

    def __init__(self, iterable: Iterable | None = None, *, desc: str, total: int | None = None, unit: str = "it",
                 enabled: bool = True, interval: float = DEFAULT_INTERVAL, stream: TextIO | None = None):
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.enabled, self.interval = enabled, interval
        self.stream = sys.stderr if stream is None else stream
        self.n = 0
        self.postfix: dict[str, object] = {}
        self.closed = False
        self.began = self._last_line = time.perf_counter()

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __len__(self) -> int:
        return self.total if self.total is not None else len(self.iterable)

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:  # an error is reported by whoever catches it; no summary of a failed phase
            self.closed = True

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self.enabled and now - self._last_line >= self.interval:
            self._last_line = now
            of = f"/{self.total}" if self.total is not None else ""
            self._write(f"{self.desc}: {self.n}{of} {self.unit}, {now - self.began:.1f} s")

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **values) -> None:
        self.postfix.update(ordered_dict or {}, **values)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.enabled:
            return
        parts = [f"{self.n} {self.unit}"]
        parts += [f"{key}={_format(value)}" for key, value in self.postfix.items()]
        parts.append(f"{time.perf_counter() - self.began:.1f} s")
        self._write(f"{self.desc}: {', '.join(parts)}")

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
