"""EventTail over PostgreSQL: the SQLite tail's reads (swarm/adapters/sqlite/tail.py) on a connection of its own.

Whether anything came is one read of the `event_seq` row (the last event number given, see migrations.py):
since numbers are given in commit order, every event up to it is there to read."""

from __future__ import annotations

from typing import Any, Callable

import psycopg

from swarm.adapters.postgres.connection import Connection, connect
from swarm.adapters.sqlite.tail import Rebuild, SqliteEventTail
from swarm.errors import StoreError


class PostgresEventTail(SqliteEventTail):
    def __init__(self, url: str, where: str, rebuild: Rebuild):
        self.path = where  # type: ignore[assignment]
        self.rebuild = rebuild
        self.version: int | None = None
        self.known: dict[tuple[str, str], dict] = {}
        try:
            self.conn = Connection(connect(url), url)  # type: ignore[assignment]
        except psycopg.Error as exc:
            raise StoreError(f"cannot follow the events of {where} ({exc})") from None

    def close(self) -> None:
        self.conn.url = None
        self.conn.close()

    @staticmethod
    def _data_version(c: Any) -> int:
        """The last event number given: it moves with every commit of events (in commit order)."""
        return c.execute("SELECT last FROM event_seq WHERE id = 1").fetchone()[0]

    def _read(self, read: Callable[[Any], Any]) -> Any:
        try:
            return read(self.conn)
        except psycopg.Error as exc:
            raise StoreError(f"stopped following the events of {self.path} ({exc})") from None
