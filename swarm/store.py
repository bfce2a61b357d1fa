"""The swarm's store, as callers import it: `open_store` (a store by URL or path, of whichever backend), `Store`
(the SQLite run store: swarm/adapters/sqlite/runs.py, where its SQL lives), the lifecycle's `Batch` and the
JSON of the store (`dumps`/`loads`, swarm/batch.py).

Nothing here holds SQL; each backend's adapter package does (swarm/adapters/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from swarm.adapters.sqlite.runs import SCHEMA_VERSION, Store, damaged
from swarm.batch import Batch, WriteLine, collector_paused, dumps, loads
from swarm.errors import StoreError, database_errors

__all__ = ["SCHEMA_VERSION", "Batch", "Store", "WriteLine", "collector_paused", "damaged", "dumps", "loads",
           "open_store", "is_postgres", "location", "folder", "database_errors"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(url_or_path: str | Path) -> bool:
    return str(url_or_path).startswith(POSTGRES_SCHEMES)


def sqlite_path(url_or_path: str | Path) -> Path:
    """The file of `sqlite:///path` (sqlite:////abs or sqlite:///rel), or a plain path as it is."""
    text = str(url_or_path)
    if text.startswith("sqlite:///"):
        return Path(text[len("sqlite:///"):])
    if text.startswith("sqlite:"):
        raise StoreError(f"{text!r} is not a store URL this swarm reads: say sqlite:///PATH, or a plain path")
    return Path(text)


def location(config: Any) -> str | Path:
    """Where a configuration's store is: [store].url when it names PostgreSQL, else the SQLite file of
    [store].url (sqlite:///PATH) or of [store].path, relative to the configuration's folder."""
    url = config.store.url
    if is_postgres(url):
        return url
    return config.path(str(sqlite_path(url)) if url else config.store.path)


def folder(config: Any) -> Path:
    """The folder of the files kept beside a configuration's store (the UI's token): the SQLite file's folder;
    for a PostgreSQL store, the folder of the configuration (of swarm.toml, else the working directory)."""
    where = location(config)
    return Path(config.base_dir) if is_postgres(where) else Path(where).resolve().parent


def open_store(where: Any, synchronous: str | None = None, *, check: str = "always") -> Store:
    """The store at a URL or path, or a configuration's ([store].url, else [store].path, and its synchronous):
    `postgresql://user@host:port/db` opens the PostgreSQL backend (the `swarm[postgres]` extra),
    `sqlite:///path` or a plain path the SQLite file. Either is a Store."""
    if hasattr(where, "store"):
        synchronous = synchronous or where.store.synchronous
        where = location(where)
    synchronous = synchronous or "NORMAL"
    if is_postgres(where):
        try:
            from swarm.adapters.postgres.runs import PostgresStore
        except ImportError as exc:
            raise StoreError(f"a postgresql:// store needs psycopg ({exc}); install the extra: "
                             "pip install 'swarm[postgres]'") from None
        return PostgresStore(str(where), synchronous, check=check)
    return Store(sqlite_path(where), synchronous, check=check)
