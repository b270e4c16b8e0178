"""The exactly-once ledger: one row per training step key, in SQLite next to the checkpoints.

It lives in the checkpoints directory so that it survives a trainer kill together with the
checkpoints it points to; WAL mode and a busy timeout let the worker and the policy server read it
while a step is being recorded.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

LEDGER_FILE = "ledger.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
  run TEXT NOT NULL,
  stage TEXT NOT NULL,
  iteration INTEGER NOT NULL,
  step INTEGER NOT NULL,
  kind TEXT NOT NULL,
  input_digest TEXT NOT NULL,
  base_checkpoint TEXT NOT NULL,
  checkpoint_id TEXT NOT NULL,
  checkpoint_path TEXT NOT NULL,
  metrics TEXT NOT NULL,
  created_at REAL NOT NULL,
  PRIMARY KEY (run, stage, iteration, step)
)
"""


class Ledger:
    def __init__(self, root: Path) -> None:
        self.path = root / LEDGER_FILE
        root.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0)
        db.row_factory = sqlite3.Row
        return db

    def get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT * FROM steps WHERE run=? AND stage=? AND iteration=? AND step=?",
                (key["run"], key["stage"], key["iteration"], key["step"]),
            ).fetchone()
        return _row(row) if row else None

    def record(self, key: dict[str, Any], kind: str, digest: str, base: str, result: dict[str, Any]) -> dict[str, Any]:
        """Insert the row unless the key is already there; returns the row that is in the ledger."""
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT OR IGNORE INTO steps VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key["run"], key["stage"], key["iteration"], key["step"], kind, digest, base,
                    result["checkpoint_id"], result["checkpoint_path"],
                    json.dumps(result["metrics"], sort_keys=True), time.time(),
                ),
            )
        row = self.get(key)
        assert row is not None
        return row

    def rows(self, run: str) -> list[dict[str, Any]]:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT * FROM steps WHERE run=? ORDER BY created_at, stage, iteration, step", (run,)
            ).fetchall()
        return [_row(r) for r in rows]

    def latest(self) -> dict[str, Any] | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM steps ORDER BY created_at DESC LIMIT 1").fetchone()
        return _row(row) if row else None


def _row(r: sqlite3.Row) -> dict[str, Any]:
    d = dict(r)
    d["metrics"] = json.loads(d["metrics"])
    return d


def result_of(row: dict[str, Any]) -> dict[str, Any]:
    """The activity output a ledger row stands for."""
    return {"checkpoint_id": row["checkpoint_id"], "checkpoint_path": row["checkpoint_path"], "metrics": row["metrics"]}
