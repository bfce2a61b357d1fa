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
