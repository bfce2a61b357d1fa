"""Numbered migrations, as every backend runs them at open: a list whose position is the version.

`MIGRATIONS[0]` brings an empty database to schema 1, `MIGRATIONS[n - 1]` brings schema n - 1 to schema n. Each
version applied is a row of `schema_migrations (version, applied_at)`; opening a store applies, in order and in
the one transaction the caller holds, every version not recorded yet, and records it. The caller makes that
transaction the only one migrating at a time (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so two
processes opening one new store at once migrate it once: the second finds the versions recorded.

A migration is SQL text (statements separated by ";") or a function of the connection (for steps that must
look first, such as SQLite's "add this column unless it is there"). Either must be safe to run on a database
that already has what it adds, since a store of the time before this table records only its schema number.

To change the schema: append one migration to the backend's list (swarm/adapters/sqlite/migrations.py and
swarm/adapters/postgres/migrations.py, the same version number in both), never edit one that was released.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence, Union

from swarm.errors import StoreError

Migration = Union[str, Callable[[Any], None]]

# One text for both backends: DOUBLE PRECISION is SQLite's REAL and PostgreSQL's 8-byte float.
TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"


def statements(sql: str) -> list[str]:
    """The statements of a migration's text (none of ours holds a ';' inside a string)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


def run(c: Any, migrations: Sequence[Migration], *, where: str, tables: Callable[[], set[str]]) -> list[int]:
    """Apply the migrations not yet recorded, in order, on connection `c` (inside the caller's transaction);
    returns the versions applied. `tables()` names the tables the database holds now; `where` names the store
    in messages. An open that finds everything applied writes nothing."""
    latest = len(migrations)
    present = tables()
    if "schema_migrations" not in present:
        c.execute(TABLE)
    applied = {r[0] for r in c.execute("SELECT version FROM schema_migrations").fetchall()}
    older = bool(applied)  # a store that existed before this open
    if not applied and "meta" in present:
        recorded = _recorded_before(c, where)
        older, applied = recorded is not None, recorded or set()
    if applied and max(applied) > latest:
        raise StoreError(f"{where} was written by a newer swarm (schema {max(applied)}, this one knows {latest}); "
                         "upgrade swarm")
    done = []
    for version in range(1, latest + 1):
        if version in applied:
            continue
        step = migrations[version - 1]
        for sql in ([step] if callable(step) else statements(step)):
            sql(c) if callable(sql) else c.execute(sql)
        now = time.time()
        c.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, now))
        if version > 1 and older:  # an older store moved on: when, as the meta table has always said
            _meta(c, f"migrated_to_{version}_at", str(now))
        done.append(version)
    if done:
        _meta(c, "schema_version", str(latest))  # what swarms from before schema_migrations read
    return done


def _recorded_before(c: Any, where: str) -> set[int] | None:
    """A store from before schema_migrations: the versions its meta row says it has (None: no such row), recorded
    as applied; not the first, whose CREATE ... IF NOT EXISTS and missing columns then run again and leave what
    is there."""
    row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        return None
    try:
        version = int(row[0])
    except ValueError:
        raise StoreError(f"{where} has an unreadable schema version ({row[0]!r}); point [store] at a new store") from None
    for v in range(2, version + 1):
        c.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (v, time.time()))
    return set(range(2, version + 1))


def _meta(c: Any, key: str, value: str) -> None:
    c.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
              (key, value))
