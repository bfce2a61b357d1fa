"""Shared by tests that look at a store from outside swarm, as an administrator would: raw SQL on either backend."""

from __future__ import annotations

import sqlite3
from typing import Any


def store_url_of(engine) -> str:
    """The URL of the engine's store: its [store].url, else sqlite:/// of its file."""
    config = engine.config
    return config.store.url or f"sqlite:///{config.path(config.store.path)}"


def raw_rows(url: str, sql: str, params: tuple = ()) -> list[tuple[Any, ...]]:
    """The rows of one query (`?` placeholders) on the database behind `url`, through its own driver and connection."""
    if url.startswith("sqlite:///"):
        db = sqlite3.connect(url[len("sqlite:///"):])
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute(sql.replace("?", "%s"), params).fetchall()


def raw_script(url: str, sql: str) -> None:
    """Statements (no parameters) on the database behind `url`, committed."""
    if url.startswith("sqlite:///"):
        db = sqlite3.connect(url[len("sqlite:///"):])
        try:
            db.executescript(sql)
        finally:
            db.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(sql)


def store_for(request, backend: str, path) -> str:
    """The URL of a new store of `backend` ("sqlite" or "postgres") for the test of `request`: sqlite:/// of
    `path`, or a fresh PostgreSQL database of the session's throwaway cluster, dropped when the test ends."""
    if backend == "sqlite":
        return f"sqlite:///{path}"
    cluster = request.getfixturevalue("throwaway_postgres")
    url = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    request.addfinalizer(lambda: cluster.drop_database(url))
    return url


def rows_or_none(url: str, sql: str, params: tuple = ()) -> list[tuple[Any, ...]] | None:
    """raw_rows, or None while the store (or its tables) does not exist yet."""
    from pathlib import Path

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None
    try:
        return raw_rows(url, sql, params)
    except Exception:  # noqa: BLE001 — sqlite3's or psycopg's error: not made yet
        return None
