"""Shared by the metrics, tracing and export tests: one scripted run that touches what they measure.

The root `plan` fans out to two model calls (`ask`), a node that uses the workspace tools
(one call fails), a node that always raises (retried once, then failed) and a node that runs
code in the sandbox; on its way up it collects the answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lifecycle_support import ScriptPlugin, script

from swarm.catalogue import Catalogue
from swarm.config import load_config
from swarm.engine import Engine
from swarm.testing.server import ScriptedModelServer

PRICES = {"gpt-4o-mini": {"input": 1.0, "output": 2.0}}  # USD per million tokens

MODEL = [
    {"match": "colour", "reply": "blue", "usage": {"prompt_tokens": 10, "completion_tokens": 2}, "repeat": True},
    {"match": "city", "reply": "Lisbon", "usage": {"prompt_tokens": 12, "completion_tokens": 3}, "repeat": True},
]


def plan(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask", question="Name a colour"), ctx.child("ask", question="Name a city"),
                          ctx.child("tooling", goal="keep notes"), ctx.child("boom"), ctx.child("code")])
    return {"answers": [r.output for r in ctx.reports if r.ok]}


def ask(ctx):
    return ctx.llm(ctx.data["question"]).text


def tooling(ctx):
    tools = ctx.tools
    tools["write_file"](path="notes.txt", text="remember the milk")
    try:
        tools["read_file"](path="missing.txt")
    except Exception as exc:  # the tool's failure is the script's to handle
        ctx.log(f"no such file: {exc}")
    return tools["read_file"](path="notes.txt")


def boom(ctx):
    raise ValueError("no luck today")


def code(ctx):
    return ctx.run_python("sum(range(5))").output


SCRIPTS = [script("plan", plan), script("ask", ask), script("tooling", tooling), script("boom", boom),
           script("code", code)]


ENV = {"SWARM_RUN_NODE_MAX_ATTEMPTS": "2", "SWARM_MODEL_MAX_RETRIES": "0", "SWARM_MODEL_PRICES": json.dumps(PRICES),
       "SWARM_SANDBOX_POOL_SIZE": "1"}


@contextmanager
def backend_store(request, folder: Path) -> Iterator[str]:
    """For a module-scoped fixture with `params=backends()` (swarm.testing.pytest_plugin): the store URL of the
    backend `request.param` names: "" on SQLite (folder/swarm.db), else a fresh PostgreSQL database of the
    session's throwaway cluster, dropped afterwards."""
    if request.param == "sqlite":
        yield ""
        return
    cluster = request.getfixturevalue("throwaway_postgres")
    url = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    try:
        yield url
    finally:
        cluster.drop_database(url)


def cli_store(engine: Engine) -> dict[str, str]:
    """The environment that points the CLI at the engine's store (its file, or its URL)."""
    return {"SWARM_STORE": str(engine.config.path(engine.config.store.path)), "SWARM_STORE_URL": engine.config.store.url or ""}


@contextmanager
def scenario_run(folder: Path, tracing=None, goal: str = "collect answers", store_url: str = "") -> Iterator[tuple[Engine, str]]:
    """Run the scenario once in `folder` (its store: folder/swarm.db, or the store of `store_url`): yields
    (engine, run id), closed afterwards.

    For a module-scoped fixture, so a test file pays for the run (and the sandbox's start) once.
    `tracing` replaces the engine's (e.g. `swarm.tracing.Tracing(exporter=InMemorySpanExporter())`).
    """
    server = ScriptedModelServer(MODEL).start()
    env = {**ENV, "SWARM_STORE": str(folder / "swarm.db"), "SWARM_STORE_URL": store_url, "OPENAI_BASE_URL": server.url,
           "SWARM_TOOLSMITH_FOLDER": str(folder / "generated")}
    catalogue = Catalogue()
    catalogue.register(ScriptPlugin(SCRIPTS))
    engine = Engine(load_config(env=env), catalogue=catalogue)
    if tracing is not None:
        engine.tracing = tracing
    try:
        run_id, status = asyncio.run(engine.run(goal, script="plan"))
        assert status == "done", status
        yield engine, run_id
    finally:
        engine.close()
        server.stop()


def scenario_engine(make_engine, **settings):
    """An engine with the scenario's scripts, model and prices; retries once (node_max_attempts=2)."""
    return make_engine(*SCRIPTS, model=MODEL, settings={**ENV, **settings})
