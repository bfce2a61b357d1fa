"""Pytest plugin (entry point `swarm_scripted_model`): the `scripted_model` fixture.

    def test_reply(scripted_model):
        server = scripted_model([{"reply": "hi"}])
        client = openai.OpenAI(base_url=server.url, api_key="x")
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
