"""The model client starts off the critical path: driving a run starts it in a background thread, while the
run is loaded, instead of inside the first node that asks the model.

Real engines on real SQLite files; the model is the scripted one, started from its file as `swarm run` does.
"""

# SQLite only: when the model client starts does not depend on the store.

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from lifecycle_support import ask_model, make_engine, script  # noqa: F401  (make_engine is a fixture)
from timeouts import scaled


def no_model(ctx):
    return "answered without the model"


def test_driving_a_run_starts_the_model_client_before_any_node_asks_for_it(make_engine, tmp_path):
    lines = tmp_path / "model.jsonl"
    lines.write_text(json.dumps({"reply": "ok", "repeat": True}) + "\n")
    engine = make_engine(script("no_model", no_model), model=f"scripted:{lines}")

    run_id, status = asyncio.run(engine.run("never asks the model", script="no_model"))

    assert status == "done"
    engine.endpoint._warming.join(scaled(60))
    client = engine.endpoint._client
    assert client is not None  # built by the engine, though no node asked for it
    assert engine.model() is client  # the node that asks next gets that very client
    server = engine.endpoint._server
    with urllib.request.urlopen(server.url + "/models", timeout=scaled(10)) as reply:
        assert reply.status == 200


def test_a_node_asking_the_model_gets_the_client_started_in_the_background(make_engine, tmp_path):
    lines = tmp_path / "model.jsonl"
    lines.write_text(json.dumps({"reply": "the scripted answer", "repeat": True}) + "\n")
    engine = make_engine(script("ask_model", ask_model), model=f"scripted:{lines}")

    run_id, status = asyncio.run(engine.run("ask", script="ask_model", data={"question": "anything?"}))

    assert status == "done"
    assert engine.store.run(run_id)["result"] == json.dumps("the scripted answer")
    assert engine.endpoint._warming is not None


def test_closing_the_engine_stops_the_server_the_background_start_made(make_engine, tmp_path):
    lines = tmp_path / "model.jsonl"
    lines.write_text(json.dumps({"reply": "ok", "repeat": True}) + "\n")
    engine = make_engine(script("no_model", no_model), model=f"scripted:{lines}")
    asyncio.run(engine.run("never asks the model", script="no_model"))

    engine.close()  # waits for the background start, then stops what it started

    assert not engine.endpoint._warming.is_alive()
    assert engine.endpoint._server is None


def test_with_no_model_configured_a_run_that_never_asks_ends_well_and_one_that_asks_says_what_to_set(
        make_engine, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("SWARM_MODEL", raising=False)
    engine = make_engine(script("no_model", no_model), script("ask_model", ask_model),
                         settings={"OPENAI_BASE_URL": "", "SWARM_MODEL_BASE_URL": ""}, node_max_attempts=1)
    engine.config.model.base_url = ""  # nothing configured: the background start fails, silently

    _, quiet = asyncio.run(engine.run("never asks", script="no_model"))
    run_id, asked = asyncio.run(engine.run("asks", script="ask_model", data={"question": "anything?"}))

    assert quiet == "done"
    assert asked == "failed"
    error = engine.store.run(run_id)["error"]
    assert "no model endpoint is configured" in error and "[model].base_url" in error
