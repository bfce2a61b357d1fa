"""Pytest plugin (entry point `swarm_scripted_model`): the `scripted_model` fixture, and the stores of both backends.

    def test_reply(scripted_model):
        server = scripted_model([{"reply": "hi"}])
        client = openai.OpenAI(base_url=server.url, api_key="x")

    def test_history(any_store):          # runs twice: on an SQLite file, on a PostgreSQL database
        any_store.create_run({...})

`store_url` is the URL of a new, empty store of each backend (sqlite:///… in tmp_path; postgresql://… a fresh
database of the session's throwaway cluster, copied from a migrated template); `any_store` is it opened.
A test module runs on both with `pytestmark = pytest.mark.usefixtures("store_url")` where its engines read
the store URL (tests/lifecycle_support.py's make_engine does). $SWARM_TEST_BACKENDS=sqlite leaves PostgreSQL out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from swarm.testing.server import ScriptedModelServer


@pytest.fixture
def scripted_model() -> Iterator[Callable[..., ScriptedModelServer]]:
    """Factory: `scripted_model(lines_or_path, **kwargs)` returns a started server, stopped at teardown.

    kwargs are those of ScriptedModelServer (host, port, default_delay_s, log_path).
    """
    servers: list[ScriptedModelServer] = []

    def start(script: Any, **kwargs: Any) -> ScriptedModelServer:
        server = ScriptedModelServer(script, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="session")
def throwaway_postgres():
    """One throwaway PostgreSQL cluster per test session (per xdist worker), stopped by pid at the end
    (swarm.testing.postgres). Fails with what to install when there is no PostgreSQL server here."""
    from swarm.testing.postgres import ThrowawayPostgres

    with ThrowawayPostgres() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(throwaway_postgres) -> Iterator[str]:
    """A fresh, empty database in the session's throwaway cluster for this test; dropped afterwards."""
    url = throwaway_postgres.create_database()
    yield url
    throwaway_postgres.drop_database(url)


@pytest.fixture(scope="session")
def postgres_template(throwaway_postgres) -> str:
    """A database of the session's cluster holding the store's tables, to copy: a new store per test costs one
    copy of a template database (tens of milliseconds), not its migrations."""
    from swarm.store import open_store

    url = throwaway_postgres.create_database()
    open_store(url).close()
    return url.rsplit("/", 1)[1]


def backends() -> list[str]:
    """The backends `store_url` runs a test on: both, unless $SWARM_TEST_BACKENDS names fewer (e.g. "sqlite"
    on a machine without PostgreSQL's server; CI installs it, .ci/setup-postgres)."""
    import os

    wanted = [b.strip() for b in os.environ.get("SWARM_TEST_BACKENDS", "sqlite,postgres").split(",") if b.strip()]
    unknown = set(wanted) - {"sqlite", "postgres"}
    if unknown or not wanted:
        raise pytest.UsageError(f"SWARM_TEST_BACKENDS names sqlite and/or postgres (comma-separated), not {sorted(unknown)}")
    return wanted


# A test of PostgreSQL alone (LISTEN/NOTIFY, its migrations, its row locks): skipped only where $SWARM_TEST_BACKENDS
# leaves PostgreSQL out (a machine without its server); CI installs the server, so it always runs there.
postgres_only = pytest.mark.skipif("postgres" not in backends(), reason="$SWARM_TEST_BACKENDS leaves PostgreSQL out")


@pytest.fixture(params=backends())
def store_url(request, tmp_path) -> Iterator[str]:
    """The URL of a new, empty store: an SQLite file in tmp_path, then a PostgreSQL database (see the module)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'swarm.db'}"
        return
    cluster = request.getfixturevalue("throwaway_postgres")
    url = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    yield url
    cluster.drop_database(url)


@pytest.fixture
def any_store(store_url):
    """The store of `store_url`, open; closed after the test."""
    from swarm.store import open_store

    store = open_store(store_url)
    yield store
    store.close()
