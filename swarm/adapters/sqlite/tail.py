"""EventTail over SQLite: follows the store's whole history as it grows, on a connection of its own.

Asks SQLite whether anything was committed (`PRAGMA data_version`, no table read) before reading, and reads
new events by sequence number. Node events record only what changed (swarm/deltas.py): the tail keeps each
followed node's last state, so it rebuilds whole states without reading the history back.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable

from swarm.errors import StoreError
from swarm.statuses import NODE_FINAL

# (connection, rows as dicts, known states by (run, node)): gives each row its node's whole state (Store's rebuild_states)
Rebuild = Callable[[sqlite3.Connection, list[dict[str, Any]], dict], None]


class SqliteEventTail:
    def __init__(self, path: str | Path, rebuild: Rebuild):
        self.path = Path(path)
        self.rebuild = rebuild
        self.version: int | None = None
        self.known: dict[tuple[str, str], dict] = {}  # (run, node) -> its state as of the last event read
        try:
            self.conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
            self.conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot follow the events of {self.path} ({exc})") from None

    def last_seq(self) -> int:
        return self._read(lambda c: c.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def changed(self) -> bool:
        now = self._read(self._data_version)
        if now == self.version:
            return False
        self.version = now
        return True

    def after(self, seq: int, limit: int) -> list[tuple]:
        rows = self._read(lambda c: c.execute(
            "SELECT seq, run_id, node_id, kind, at, state, patch, detail FROM events WHERE seq>? ORDER BY seq LIMIT ?",
            (seq, limit)).fetchall())
        return self._whole_states(rows) if rows else []

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def _data_version(c: sqlite3.Connection) -> int:
        """A number that changes with every commit to the file (by any connection)."""
        return c.execute("PRAGMA data_version").fetchone()[0]

    def _read(self, read: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            return read(self.conn)
        except sqlite3.Error as exc:
            raise StoreError(f"stopped following the events of {self.path} ({exc})") from None

    def _whole_states(self, rows: list[tuple]) -> list[tuple]:
        """The rows with each node event's whole state, without the patch column."""
        if not any(r[6] is not None for r in rows):
            return [r[:6] + r[7:] for r in rows]
        dicts = [{"seq": r[0], "run_id": r[1], "node_id": r[2], "state": r[5], "patch": r[6]} for r in rows]
        self._read(lambda c: self.rebuild(c, dicts, self.known))
        for d in dicts:  # an ended node has no later event: forget it
            if d["state"] is not None and (state := self.known.get((d["run_id"], d["node_id"]))) is not None \
                    and state.get("status") in NODE_FINAL:
                del self.known[(d["run_id"], d["node_id"])]
        return [r[:5] + (d["state"],) + r[7:] for r, d in zip(rows, dicts)]
