"""The daemon's ledger: which goal file became which run, kept in the store's `goals` table.

A row is written right after a file is moved into processing/ and before its run exists, with
the run id chosen in advance; so after a crash at any moment the daemon finds every goal it had
taken, creates a run only where none was recorded yet, and never makes a second run of one file.

States: `running` (the run is being driven, or waits to be) → `finishing` (the outcome and the
file's place in done/ or failed/ are recorded, the move may not have happened yet) → `finished`.
"""

from __future__ import annotations

import time
from typing import Any

from swarm.store import Store

COLUMNS = ("id", "folder", "name", "original", "sha256", "run_id", "state", "outcome", "dest", "error",
           "claimed_at", "finished_at")


def _rows(store: Store, sql: str, params: tuple) -> list[dict[str, Any]]:
    with store.lock:
        return [dict(zip(COLUMNS, row)) for row in store.conn.execute(sql, params).fetchall()]


def unfinished(store: Store, folder: str) -> list[dict[str, Any]]:
    """Goals of this folder taken but not yet moved out of processing/, oldest first."""
    return _rows(store, f"SELECT {', '.join(COLUMNS)} FROM goals WHERE folder=? AND state!='finished' ORDER BY id",
                 (folder,))


def goals(store: Store, folder: str | None = None) -> list[dict[str, Any]]:
    """Every goal row (of one folder, or all), oldest first."""
    if folder is None:
        return _rows(store, f"SELECT {', '.join(COLUMNS)} FROM goals ORDER BY id", ())
    return _rows(store, f"SELECT {', '.join(COLUMNS)} FROM goals WHERE folder=? ORDER BY id", (folder,))


def get(store: Store, goal_id: int) -> dict[str, Any]:
    return _rows(store, f"SELECT {', '.join(COLUMNS)} FROM goals WHERE id=?", (goal_id,))[0]


def record_claim(store: Store, folder: str, name: str, original: str, sha256: str, run_id: str | None,
                 error: str | None = None) -> int:
    """A file now in processing/: with the run id it will get, or the error that keeps it from running."""
    state = "running" if error is None else "finishing"
    outcome = None if error is None else "failed"
    with store.transaction() as c:
        c.execute(
            "INSERT INTO goals (folder, name, original, sha256, run_id, state, outcome, error, claimed_at) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (folder, name, original, sha256, run_id, state, outcome, error, time.time()),
        )
        return c.execute("SELECT last_insert_rowid()").fetchone()[0]


def record_outcome(store: Store, goal_id: int, outcome: str, dest: str | None, error: str | None = None) -> None:
    """The run ended (or the file is refused): where the file goes, chosen before it moves."""
    with store.transaction() as c:
        c.execute("UPDATE goals SET state='finishing', outcome=?, dest=?, error=COALESCE(?, error) WHERE id=?",
                  (outcome, dest, error, goal_id))


def record_finished(store: Store, goal_id: int) -> None:
    with store.transaction() as c:
        c.execute("UPDATE goals SET state='finished', finished_at=? WHERE id=?", (time.time(), goal_id))
