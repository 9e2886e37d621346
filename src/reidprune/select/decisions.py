"""A reviewer's decisions on flagged images: stored in SQLite, applied to a selection.

``reidprune review OUT`` writes one row per reviewed image into ``OUT/review.sqlite``; ``reidprune
prune ... --decisions OUT/review.sqlite`` reads them back and changes the selection before anything
is exported, so the lists, ``manifest.csv`` and a materialised copy all follow.

Each row says what the reviewer did with one flagged image (``kind`` ``relabel`` or ``outlier``):

=========  ==================================  ==========================================
verdict    relabel                             outlier
=========  ==================================  ==========================================
accept     train on the proposed identity      removed as an outlier
reject     train on the given identity         kept, with the given identity
identity   train on the typed identity         kept, with the typed identity
=========  ==================================  ==========================================

A decision on an image that the current selection prunes as easy changes only its label (it
stays pruned), and an accepted outlier is removed whatever the current threshold says. The file
records the dataset fingerprint, so decisions made on another dataset are refused.
"""
from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from reidprune.errors import ReidPruneError
from reidprune.select.selection import KEPT, OUTLIER, PRUNED, RELABELLED, Selection

KINDS = ("relabel", "outlier")
VERDICTS = ("accept", "reject", "identity")
FILE_NAME = "review.sqlite"
FORMAT = "reidprune-review/1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    path TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('relabel', 'outlier')),
    verdict TEXT NOT NULL CHECK (verdict IN ('accept', 'reject', 'identity')),
    given_id INTEGER NOT NULL,
    proposed_id INTEGER,
    identity INTEGER,
    decided_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Reviews:
    """The rows of a decisions file, one numpy array per column (``identity``/``proposed_id``: -1 = none)."""

    path: np.ndarray
    kind: np.ndarray
    verdict: np.ndarray
    given_id: np.ndarray
    proposed_id: np.ndarray
    identity: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.path)


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """A connection in WAL mode that waits for a concurrent writer (two browser tabs) instead of failing."""
    connection = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
    connection.execute("PRAGMA busy_timeout = 10000")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: never corrupt, one fsync per checkpoint
    return connection


def _read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file (reading must not turn a stray file into WAL mode)."""
    if path.stat().st_size == 0:
        raise ReidPruneError(f"{path} is empty, not a reidprune decisions file; give the review.sqlite that "
                             "`reidprune review OUT` wrote")
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
    connection.execute("PRAGMA busy_timeout = 10000")
    return connection


def open_store(path: str | os.PathLike, fingerprint: str, dataset: str = "") -> Path:
    """Create the decisions file (or check an existing one belongs to the same dataset).

    Parameters
    ----------
    path:
        The SQLite file, normally ``OUT/review.sqlite``.
    fingerprint:
        The training split's fingerprint (``selection.json``'s ``fingerprint``).
    dataset:
        The dataset folder, recorded for the error message of a mismatch.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ReidPruneError
        When the file is not a decisions file or was made for another dataset.
    """
    path = Path(path)
    try:
        with closing(connect(path)) as db:
            db.executescript(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
            db.execute("INSERT OR IGNORE INTO meta VALUES ('dataset', ?)", (dataset,))
            db.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise ReidPruneError(f"{path} is not a reidprune decisions file ({exc}); move it away") from exc
    _check_fingerprint(path, fingerprint)
    return path


def record(path: str | os.PathLike, image: str, kind: str, verdict: str, given_id: int,
           proposed_id: int | None = None, identity: int | None = None) -> None:
    """Store (or replace) the decision on one image, committed before returning.

    Parameters
    ----------
    path:
        The decisions file made by :func:`open_store`.
    image:
        The image path relative to the dataset root (the manifest's ``path``).
    kind:
        ``relabel`` or ``outlier``.
    verdict:
        ``accept``, ``reject`` or ``identity`` (then ``identity`` is the typed identity).
    given_id, proposed_id:
        The identity the dataset gives the image and the one proposed (relabel only).
    identity:
        The typed identity (verdict ``identity`` only).
    """
    if kind not in KINDS:
        raise ReidPruneError(f"decision kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if verdict not in VERDICTS:
        raise ReidPruneError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    if (verdict == "identity") != (identity is not None):
        raise ReidPruneError("give an identity exactly when the verdict is 'identity'")
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with closing(connect(path)) as db:
        db.execute("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (image, kind, verdict, int(given_id), None if proposed_id is None else int(proposed_id),
                    None if identity is None else int(identity), stamp))


def forget(path: str | os.PathLike, image: str) -> None:
    """Remove the decision on one image (undo)."""
    with closing(connect(path)) as db:
        db.execute("DELETE FROM decisions WHERE path = ?", (image,))


def read_reviews(path: str | os.PathLike, fingerprint: str | None = None) -> Reviews:
    """Read a decisions file; with ``fingerprint``, refuse one made for another dataset.

    Raises
    ------
    ReidPruneError
        When the file is missing, not a decisions file, or of another dataset.
    """
    path = Path(path)
    if not path.is_file():
        raise ReidPruneError(f"decisions file {path} does not exist; run `reidprune review OUT` first")
    if fingerprint is not None:
        _check_fingerprint(path, fingerprint)
    try:
        with closing(_read_only(path)) as db:
            rows = db.execute("SELECT path, kind, verdict, given_id, proposed_id, identity FROM decisions "
                              "ORDER BY path").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ReidPruneError(f"{path} is not a reidprune decisions file ({exc})") from exc
    for row in rows:
        _check_row(path, row)
    columns = list(zip(*rows)) if rows else [[]] * 6
    ints = [np.array([-1 if v is None else v for v in col], dtype=np.int64) for col in columns[3:]]
    return Reviews(np.array(columns[0], dtype=str), np.array(columns[1], dtype=str),
                   np.array(columns[2], dtype=str), *ints, source=str(path))


def _check_row(path: Path, row: tuple) -> None:
    """One stored decision, as ``record`` writes it; a forged or damaged row is named."""
    image, kind, verdict, given, proposed, identity = row
    what = f"{path}: the decision on {image!r}"
    if not isinstance(image, str) or not image:
        raise ReidPruneError(f"{path}: a decision has no image path ({image!r}); the file is damaged")
    if kind not in KINDS or verdict not in VERDICTS:
        raise ReidPruneError(f"{what} has kind {kind!r} and verdict {verdict!r}; expected a kind of "
                             f"{', '.join(KINDS)} and a verdict of {', '.join(VERDICTS)}: the file was not "
                             "written by `reidprune review`")
    for name, value, optional in (("given identity", given, False), ("proposed identity", proposed, True),
                                  ("typed identity", identity, True)):
        if (value is None and not optional) or (value is not None and (isinstance(value, bool)
                                                                      or not isinstance(value, int))):
            raise ReidPruneError(f"{what} has {name} {value!r}, not a whole number: the file was not written "
                                 "by `reidprune review`")
    if (verdict == "identity") != (identity is not None):
        raise ReidPruneError(f"{what}: verdict {verdict!r} with typed identity {identity!r} (an identity goes "
                             "exactly with the verdict 'identity')")


def check_decisions_file(path: str | os.PathLike) -> None:
    """Fail early (before any training) on a decisions file that cannot be applied."""
    read_reviews(path)


def _check_fingerprint(path: Path, fingerprint: str) -> None:
    if not path.is_file():
        raise ReidPruneError(f"decisions file {path} does not exist; run `reidprune review OUT` first")
    try:
        with closing(_read_only(path)) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        raise ReidPruneError(f"{path} is not a reidprune decisions file ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise ReidPruneError(f"{path} is not a reidprune decisions file (format {meta.get('format')!r})")
    if meta.get("fingerprint") != fingerprint:
        raise ReidPruneError(
            f"{path} holds decisions made on another dataset ({meta.get('dataset') or 'unknown folder'}, "
            f"fingerprint {str(meta.get('fingerprint'))[:12]}..., this one {fingerprint[:12]}...); "
            "review this dataset's own prune output")


@dataclass(frozen=True)
class Reviewed:
    """A selection after the reviewer's decisions, with the masks the exports need."""

    selection: Selection
    outliers: np.ndarray  # removed as outliers
    mislabeled: np.ndarray  # to be trained on another label than the given one
    predicted: np.ndarray  # training label proposed / chosen for each sample
    counts: dict[str, int]


def apply_reviews(selection: Selection, outliers: np.ndarray, mislabeled: np.ndarray, predicted: np.ndarray,
                  paths: np.ndarray, classes: np.ndarray, reviews: Reviews) -> Reviewed:
    """Apply a reviewer's decisions (see the module table) to a selection.

    Parameters
    ----------
    selection:
        The selection made from the scores.
    outliers, mislabeled:
        ``(N,)`` bool masks the selection was made from.
    predicted:
        ``(N,)`` int predicted training labels (argmax of the soft label).
    paths:
        ``(N,)`` training image paths relative to the dataset root, index order.
    classes:
        ``(C,)`` original identities; ``classes[label]`` is a label's identity.
    reviews:
        From :func:`read_reviews`.

    Returns
    -------
    Reviewed
        New arrays (the inputs are not changed) and per-verdict counts
        (``relabel accept``, ``outlier reject``, ...).

    Raises
    ------
    ReidPruneError
        For an image that is not in the training set, or an identity (typed or proposed) that
        is not a training identity of this dataset.
    """
    position = {p: i for i, p in enumerate(np.asarray(paths).tolist())}
    classes = np.asarray(classes)
    status, labels = selection.status.copy(), selection.labels.copy()
    assigned = selection.assigned
    outliers, mislabeled, predicted = outliers.copy(), mislabeled.copy(), predicted.copy()
    counts = {f"{k} {v}": 0 for k in KINDS for v in VERDICTS}
    where = reviews.source or "the decisions file"
    for image, kind, verdict, proposed, typed in zip(reviews.path.tolist(), reviews.kind.tolist(),
                                                     reviews.verdict.tolist(), reviews.proposed_id.tolist(),
                                                     reviews.identity.tolist()):
        if image not in position:
            raise ReidPruneError(f"{where} has a decision on {image}, which is not a training image of this "
                                 "dataset; review this dataset's own prune output")
        i = position[image]
        counts[f"{kind} {verdict}"] += 1
        if kind == "outlier" and verdict == "accept":
            status[i], labels[i], outliers[i] = OUTLIER, assigned[i], True
            continue
        if verdict == "identity":
            target = _label_of(typed, classes, f"{where}: identity {typed} typed for {image}")
        elif kind == "relabel" and verdict == "accept":
            target = _label_of(proposed, classes, f"{where}: proposed identity {proposed} for {image}")
        else:
            target = int(assigned[i])
        if kind == "outlier":
            outliers[i] = False
            if status[i] == OUTLIER:
                status[i] = KEPT
        mislabeled[i], predicted[i] = target != assigned[i], target
        if status[i] != PRUNED and status[i] != OUTLIER:
            labels[i] = target
            status[i] = RELABELLED if target != assigned[i] else KEPT
    return Reviewed(Selection(status, labels, assigned), outliers, mislabeled, predicted, counts)


def _label_of(identity: int, classes: np.ndarray, what: str) -> int:
    found = np.flatnonzero(classes == identity)
    if identity < 0 or len(found) == 0:
        raise ReidPruneError(f"{what} is not a training identity of this dataset (it has {len(classes)}: "
                             f"{', '.join(map(str, classes[:8].tolist()))}{', ...' if len(classes) > 8 else ''})")
    return int(found[0])
