"""What the SQLite adapters share of the store: its one connection, the lock around it, its transactions."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Protocol

from swarm.adapters.dialect import Dialect
from swarm.ports import Wakeups


class Handle(Protocol):
    """The store's SQLite file as an adapter uses it (swarm.store.Store is one)."""

    conn: sqlite3.Connection
    lock: Any  # a threading.RLock: one statement (or transaction) on the connection at a time
    dialect: Dialect  # where the backend's SQL differs (the PostgreSQL store is a Handle too)
    wakeups: Wakeups  # what a write tells the processes waiting for it (nothing on SQLite: they look on their tick)

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on the connection, under the lock (ROLLBACK when the block raises)."""


def dicts(handle: Handle, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
    """Rows as dicts (column -> value)."""
    with handle.lock:
        cursor = handle.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


def tuples(handle: Handle, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows as plain tuples: for queries over many rows, where a dict per row would cost more than the query."""
    with handle.lock:
        return handle.conn.execute(sql, params).fetchall()
