"""Fresh stores for a benchmark's `--store-url`: one new database per measurement, on PostgreSQL.

    with Databases(args.store_url) as databases:   # "" (SQLite), "throwaway", or postgresql://USER@HOST:PORT/DB
        url = databases.fresh()                    # "" on SQLite: the benchmark keeps its own file
        ...
        databases.drop(url)

`throwaway` starts a cluster of its own (swarm.testing.postgres: Debian's postgresql package, fsync off) and
deletes it at the end. A postgresql:// URL names a server and a database to connect to: every fresh database is
a new one beside it (the role needs CREATEDB), dropped after its measurement.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit


class Databases:
    def __init__(self, store_url: str):
        if store_url and store_url != "throwaway" and not store_url.startswith(("postgresql://", "postgres://")):
            raise SystemExit(f"--store-url: {store_url!r} is not a PostgreSQL URL; give postgresql://USER@HOST:PORT/DB, "
                             "or `throwaway` for a cluster of the benchmark's own")
        self.store_url = store_url
        self.cluster = None
        self.server = store_url

    @property
    def kind(self) -> str:
        return "postgres" if self.store_url else "sqlite"

    def __enter__(self) -> Databases:
        if self.store_url == "throwaway":
            from swarm.testing.postgres import ThrowawayPostgres

            self.cluster = ThrowawayPostgres().start()
            self.server = self.cluster.url
        return self

    def __exit__(self, *exc) -> None:
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None

    def fresh(self) -> str:
        """The URL of a new, empty database ("" on SQLite)."""
        if not self.store_url:
            return ""
        import psycopg

        name = f"swarm_bench_{uuid.uuid4().hex[:12]}"
        try:
            with psycopg.connect(self.server, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            from swarm.adapters.postgres.runs import shown

            raise SystemExit(f"--store-url: cannot create a database for the benchmark on {shown(self.server)} "
                             f"({str(exc).strip().splitlines()[0]}); check that the server runs and that the URL's role may "
                             "CREATE DATABASE, or give --store-url throwaway") from None
        return urlunsplit(urlsplit(self.server)._replace(path="/" + name))

    def drop(self, url: str) -> None:
        """Drop a database fresh() made (ending any session still on it)."""
        if not url:
            return
        import psycopg

        name = urlsplit(url).path.lstrip("/")
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

