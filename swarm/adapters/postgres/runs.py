"""The PostgreSQL run store: the SQLite store's SQL (swarm/adapters/sqlite/runs.py) on a PostgreSQL database.

Every query is the SQLite store's own text; this class changes only what a server does differently:

    opening       a connection to the URL (autocommit, as SQLite's), the numbered migrations of
                  swarm/adapters/postgres/migrations.py under an advisory lock (two processes opening one new
                  database migrate it once)
    transactions  BEGIN ... COMMIT at READ COMMITTED; no file to check (the server checks its own pages)
    event numbers taken from the `event_seq` row in the transaction that writes the events, gap-free and in
                  commit order under any number of writers (see migrations.py)
    snapshots     compressed always (`data` is bytea)
    the tail      a follower on a connection of its own that asks the `event_seq` row whether anything came

Like the SQLite store it holds one connection behind a lock; each process (each daemon, the UI, a CLI
command) opens its own.
"""

from __future__ import annotations

import threading
import zlib
from collections import deque
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from swarm.adapters import migrate
from swarm.adapters.dialect import POSTGRES
from swarm.adapters.postgres import migrations
from swarm.adapters.postgres.connection import Connection, connect
from swarm.adapters.postgres.tail import PostgresEventTail
from swarm.adapters.postgres.wakeups import PostgresWakeups
from swarm.adapters.sqlite.runs import Store, insert_rows, rebuild_states
from swarm.errors import StoreError


def shown(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


EVENTS_AT_ONCE = 400  # a turn with more events numbers them first, then inserts them in chunks


class Location(str):
    """Where a PostgreSQL store is, where callers expect the path of a store file: its URL (without the
    password) as text; folders kept beside a store file (workspace, snapshots) go in the working directory."""

    def resolve(self) -> Location:
        return self

    @property
    def parent(self) -> Path:
        return Path.cwd()

    def exists(self) -> bool:
        return True


class NoCheckpoints:
    """The server writes its own checkpoints: nothing to start or stop."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class PostgresStore(Store):
    """The swarm's store on a PostgreSQL database, by URL (postgresql://user@host:port/database)."""

    BEGIN = "BEGIN"
    ERRORS = (psycopg.Error,)
    dialect = POSTGRES

    def __init__(self, url: str, synchronous: str = "NORMAL", *, check: str = "always"):
        self.url = url
        self.path = Location(shown(url))  # type: ignore[assignment]
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise StoreError(f"[store].synchronous must be NORMAL, FULL, EXTRA or OFF, not {synchronous!r}")
        self.checked = None
        self.paid_calls: deque[dict[str, Any]] = deque()
        self._taken: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.checkpointer = NoCheckpoints()  # type: ignore[assignment]
        try:
            self.conn = Connection(connect(url), url)  # type: ignore[assignment]  # made again if the server ends it
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach the PostgreSQL store {self.path} ({_first_line(exc)}); start the server, "
                             "or point [store].url or $SWARM_STORE_URL at one that runs") from None
        if synchronous.upper() == "OFF":  # as SQLite's OFF: a crash of the server may lose the last commits
            self.conn.setup.append("SET synchronous_commit = off")
            self.conn.execute(self.conn.setup[-1])
        try:
            self._migrate()
        except psycopg.Error as exc:
            self.conn.close()
            raise StoreError(f"{self.path} is not a usable swarm store ({_first_line(exc)}); point [store].url "
                             "at a new database") from None

    def _migrate(self) -> None:
        with self.transaction() as c:
            c.execute("SELECT pg_advisory_xact_lock(?)", (migrations.LOCK_KEY,))  # one opener migrates at a time
            present = _tables(c)
            present.discard("schema_migrations")
            if present and "meta" not in present:
                raise StoreError(f"{self.path} is a database of something else (tables: "
                                 f"{', '.join(sorted(present)[:5])}); point [store].url at a new database")
            migrate.run(c, migrations.MIGRATIONS, where=str(self.path), tables=lambda: _tables(c))

    def check(self) -> None:
        """Nothing to check: the server keeps its pages whole (and checks them with data checksums on)."""

    def check_if_changed(self) -> None:
        pass

    @cached_property
    def wakeups(self) -> PostgresWakeups:  # type: ignore[override]
        """LISTEN/NOTIFY: a cancel, a pause, a decision or a submitted goal reaches the one waiting for it at once."""
        return PostgresWakeups(self.url)

    def close(self) -> None:
        if "wakeups" in self.__dict__:  # listening: stop its thread
            self.wakeups.close()
        with self.lock:
            self.conn.url = None  # closed for good: not made again
            self.conn.close()

    def _append_events(self, c: Any, events: list[tuple]) -> int:
        """Number the events after the last one given (the `event_seq` row, locked until this commit ends) and
        insert them: one statement (one round trip) for a turn's events, up to EVENTS_AT_ONCE of them."""
        if len(events) > EVENTS_AT_ONCE:
            last = c.execute("UPDATE event_seq SET last = last + ? WHERE id = 1 RETURNING last", (len(events),)).fetchone()[0]
            first = last - len(events) + 1
            insert_rows(c, "INSERT INTO events (seq, run_id, node_id, kind, at, state, patch, detail)",
                        [(first + i, *event) for i, event in enumerate(events)])
            return last
        rows = ",".join(["(?::bigint, ?, ?, ?, ?::double precision, ?, ?, ?)"] * len(events))
        return c.execute(
            "WITH n AS (UPDATE event_seq SET last = last + ? WHERE id = 1 RETURNING last), "
            "e AS (INSERT INTO events (seq, run_id, node_id, kind, at, state, patch, detail) "
            "SELECT n.last - ? + v.i, v.run_id, v.node_id, v.kind, v.at, v.state, v.patch, v.detail "
            f"FROM n, (VALUES {rows}) AS v (i, run_id, node_id, kind, at, state, patch, detail)) "
            "SELECT last FROM n",
            (len(events), len(events), *[v for i, event in enumerate(events, 1) for v in (i, *event)])).fetchone()[0]

    def _stored_snapshot(self, data: str, since: int | None) -> bytes:
        return zlib.compress(data.encode(), 1)

    def event_tail(self) -> PostgresEventTail:  # type: ignore[override]
        return PostgresEventTail(self.url, self.path, rebuild_states)


def _tables(c: Any) -> set[str]:
    return {r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()}


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
