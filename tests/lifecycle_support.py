"""Shared by the lifecycle tests: an Engine on a real SQLite file, talking to a real scripted model on loopback.

Test modules import the `make_engine` fixture and the small readers below:

    from lifecycle_support import make_engine, node_states, script  # noqa: F401
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import swarm.model.client  # noqa: F401  (imports openai now: a timing test must not pay for it)
from swarm.catalogue import Catalogue
from swarm.config import load_config
from swarm.engine import Engine
from swarm.plugin import NodeScript, hookimpl
from swarm.snapshot import state_at
from swarm.testing.server import ScriptedModelServer
from timeouts import scaled, timeout_scale  # noqa: F401  (the suite's hang limits, re-exported for the tests)

FINAL = {"done", "failed", "cancelled"}


class ScriptPlugin:
    """A plugin object that provides the node scripts of one test."""

    def __init__(self, scripts: list[NodeScript]):
        self.scripts = scripts

    @hookimpl
    def swarm_node_scripts(self) -> list[NodeScript]:
        return self.scripts


def script(name: str, execute: Callable[[Any], Any], **kwargs: Any) -> NodeScript:
    """A test node script: a name, a function of ctx, and optionally an input_schema."""
    return NodeScript(name=name, description=f"test script {name}", execute=execute, **kwargs)


def ask_model(ctx) -> str:
    """The plainest leaf: one model call with `data["question"]`, the reply text is the result."""
    return ctx.llm(ctx.data["question"]).text


@pytest.fixture
def make_engine(tmp_path: Path, scripted_model, request) -> Iterator[Callable[..., Engine]]:
    """Factory: `make_engine(*scripts, model=lines | server | "scripted:PATH", human=None, **run_settings)`.

    Every engine of one test shares the store file tmp_path/"swarm.db" (or, in a test that uses the `store_url`
    fixture, e.g. by `pytestmark = pytest.mark.usefixtures("store_url")`, the store of that URL: each test
    then runs on SQLite and on PostgreSQL); run settings are
    given as the [run] keys (node_max_attempts=1, node_timeout_s=0.2, ...) and go through
    the real config loader as SWARM_RUN_* variables.
    """
    engines: list[Engine] = []

    def make(*scripts: NodeScript, model: Any = (), human=None, settings: dict[str, str] | None = None,
             **run_settings: Any) -> Engine:
        env = {
            "SWARM_STORE": str(tmp_path / "swarm.db"),
            "SWARM_STORE_URL": request.getfixturevalue("store_url") if "store_url" in request.fixturenames else "",
            "SWARM_MODEL_MAX_RETRIES": "0",  # a dropped slow request must not keep a worker thread busy
            "SWARM_TOOLSMITH_FOLDER": str(tmp_path / "generated"),  # never the checkout's node_scripts/generated
            "SWARM_RUN_ROOT_SCRIPT": "break_down_goal",  # the tree most tests exercise (the default root is solve)
            **(settings or {}),  # any other SWARM_* setting
        }
        if "SWARM_CONFIG" not in env:  # the checkout's swarm.toml is read: its folder is no place for a test's runs
            env.setdefault("SWARM_RUN_WORKSPACES_DIR", str(tmp_path / "workspaces"))
        if isinstance(model, str):
            env["SWARM_MODEL"] = model
        else:
            server = model if isinstance(model, ScriptedModelServer) else scripted_model(list(model) or [{"reply": "ok", "repeat": True}])
            env["OPENAI_BASE_URL"] = server.url
        env.update({f"SWARM_RUN_{key.upper()}": str(value) for key, value in run_settings.items()})
        catalogue = Catalogue()
        if scripts:
            catalogue.register(ScriptPlugin(list(scripts)))
        engine = Engine(load_config(env=env), catalogue=catalogue, human=human)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def run(engine: Engine, goal: str, script: str, **kwargs: Any) -> tuple[str, str]:
    """Drive a new run to its end (or pause); returns (run_id, status)."""
    return asyncio.run(engine.run(goal, script=script, **kwargs))


def node_states(engine: Engine, run_id: str) -> dict[str, dict[str, Any]]:
    """Every node of the run, by id, as rebuilt from the recorded history."""
    return {n["id"]: n for n in state_at(engine.store, run_id)}


def events(engine: Engine, run_id: str, node_id: str | None = None) -> list[dict[str, Any]]:
    """The run's recorded events (optionally of one node), with `detail` decoded."""
    rows = engine.store.events(run_id)
    if node_id is not None:
        rows = [e for e in rows if e["node_id"] == node_id]
    return [{**e, "detail": json.loads(e["detail"]) if e["detail"] else {}} for e in rows]


def kinds(engine: Engine, run_id: str, node_id: str | None = None) -> list[str]:
    return [e["kind"] for e in events(engine, run_id, node_id)]


def first_at(engine: Engine, run_id: str, kind: str, node_id: str) -> float:
    """When the first `kind` event of a node was recorded."""
    return next(e["at"] for e in events(engine, run_id, node_id) if e["kind"] == kind)


def result(engine: Engine, run_id: str) -> Any:
    """The run's recorded result (the root node's output)."""
    raw = engine.store.run(run_id)["result"]
    return json.loads(raw) if raw is not None else None


def assert_all_final(engine: Engine, run_id: str) -> None:
    """No node is left pending, running, waiting or awaiting, in the history nor in the nodes table."""
    from_history = {i: n["status"] for i, n in node_states(engine, run_id).items()}
    from_table = {n["id"]: n["status"] for n in engine.store.node_states(run_id)}
    assert from_history == from_table
    assert set(from_history.values()) <= FINAL, from_history


def wait_for(predicate: Callable[[], Any], timeout: float = 20, what: str = "a condition") -> Any:
    """Poll `predicate` until it returns something true (returned), or fail after `timeout` seconds (scaled)."""
    deadline = time.time() + scaled(timeout)
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
