"""The sweep's SQLite file: one row per finished cell, one per scoring run, and the fixed setup.

Each row is written in its own transaction when its work finishes, so a killed sweep loses at
most the cell that was running, and a re-run skips every cell already in the file.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from reidprune.errors import ReidPruneError

CELL_COLUMNS = {
    "key": "TEXT PRIMARY KEY", "method": "TEXT NOT NULL", "fraction": "REAL NOT NULL", "seed": "INTEGER NOT NULL",
    "noise": "REAL NOT NULL", "score_epochs": "INTEGER", "every": "INTEGER", "delta": "REAL",
    "fraction_removed": "REAL", "kept": "INTEGER", "relabelled": "INTEGER", "outliers": "INTEGER",
    "iterations": "INTEGER", "rank1": "REAL", "mAP": "REAL", "mINP": "REAL", "score": "REAL",
    "metrics": "TEXT", "train_seconds": "REAL", "cell_seconds": "REAL", "scores_file": "TEXT",
    "score_cost": "TEXT", "weights": "TEXT", "settings": "TEXT", "reidprune": "TEXT", "finished": "TEXT",
}
SCORING_COLUMNS = {
    "key": "TEXT PRIMARY KEY", "noise": "REAL", "score_seed": "INTEGER", "score_epochs": "INTEGER",
    "every": "INTEGER", "models": "INTEGER", "methods": "TEXT", "costs": "TEXT", "seconds": "REAL",
    "file": "TEXT", "reidprune": "TEXT", "finished": "TEXT",
}
#: Setup entries that may differ between runs of one sweep (they do not change the results; the
#: dataset may move: its fingerprint must match).
IGNORED_SETUP = ("device", "eval_batch_size", "dataset")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class SweepDB:
    """A sweep's SQLite file (created on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            raise ReidPruneError(f"{self.path} is a folder; give the sweep's .sqlite file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path)
            self.conn.row_factory = sqlite3.Row
            with self.conn:
                self.conn.execute("CREATE TABLE IF NOT EXISTS setup (id INTEGER PRIMARY KEY CHECK (id = 1), "
                                  "settings TEXT NOT NULL, created TEXT NOT NULL)")
                for table, columns in (("cells", CELL_COLUMNS), ("scorings", SCORING_COLUMNS)):
                    body = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
                    self.conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({body})")
        except sqlite3.DatabaseError as exc:
            raise ReidPruneError(f"{self.path} is not a sweep SQLite file ({exc})") from exc

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "SweepDB":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- setup: what every cell of this file shares
    def check_setup(self, settings: dict) -> None:
        """Store ``settings`` on first use; afterwards refuse a sweep with other fixed settings."""
        row = self.conn.execute("SELECT settings FROM setup WHERE id = 1").fetchone()
        mine = json.loads(json.dumps(settings, sort_keys=True, default=str))
        if row is None:
            with self.conn:
                self.conn.execute("INSERT INTO setup VALUES (1, ?, ?)", (json.dumps(mine, sort_keys=True), now()))
            return
        stored = json.loads(row["settings"])
        differ = _differences(stored, mine)
        if differ:
            shown = "; ".join(f"{k}: {a!r} in the file, {b!r} now" for k, a, b in differ[:4])
            raise ReidPruneError(
                f"{self.path} holds a sweep with other fixed settings ({shown}). Use another --out folder for "
                "these settings, or the same options as before (grid values such as methods, fractions and seeds "
                "may change freely)")

    def setup(self) -> dict:
        row = self.conn.execute("SELECT settings FROM setup WHERE id = 1").fetchone()
        return json.loads(row["settings"]) if row else {}

    # -- cells
    def finished_keys(self) -> set[str]:
        return {r["key"] for r in self.conn.execute("SELECT key FROM cells")}

    def add_cell(self, row: dict) -> None:
        self._insert("cells", CELL_COLUMNS, row)

    def cells(self) -> list[dict]:
        out = []
        for r in self.conn.execute("SELECT * FROM cells ORDER BY method, noise, fraction, seed"):
            row = dict(r)
            for name in ("metrics", "score_cost", "settings"):
                row[name] = json.loads(row[name]) if row[name] else None
            out.append(row)
        return out

    # -- scoring runs
    def add_scoring(self, row: dict) -> None:
        self._insert("scorings", SCORING_COLUMNS, row)

    def scorings(self) -> list[dict]:
        out = []
        for r in self.conn.execute("SELECT * FROM scorings ORDER BY noise, score_seed"):
            row = dict(r)
            row["costs"] = json.loads(row["costs"]) if row["costs"] else {}
            row["methods"] = json.loads(row["methods"]) if row["methods"] else []
            out.append(row)
        return out

    def _insert(self, table: str, columns: dict, row: dict) -> None:
        unknown = set(row) - set(columns)
        if unknown:
            raise ReidPruneError(f"internal: unknown {table} column(s) {sorted(unknown)}")
        values = [json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v
                  for v in row.values()]
        names = ", ".join(f'"{k}"' for k in row)
        with self.conn:  # one transaction: the row is there whole or not at all
            self.conn.execute(f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})",
                              values)


def _differences(stored: dict, mine: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    out = []
    for key in sorted(set(stored) | set(mine)):
        if key in IGNORED_SETUP:
            continue
        a, b = stored.get(key), mine.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append((prefix + key, a, b))
    return out
