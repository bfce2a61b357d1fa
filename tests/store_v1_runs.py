"""The runs of tests/fixtures/store_v1.sql.gz: a store written by the swarm before history recorded deltas
(schema 1: every event holds its node's whole state, every snapshot the whole tree), kept as the SQL dump of
that store (`sqlite3 OUT.db .dump | gzip`), since store files are not committed.

    python tests/store_v1_runs.py OUT.db     (with the schema-1 code first on PYTHONPATH, to make it again)

Four runs, with the scripts below: a finished fan-out tree with snapshots mid-run, a finished sequence,
a run paused on a person's answer (resumable), and a fork of the first run from one of its middle events.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from swarm.catalogue import Catalogue
from swarm.config import Config
from swarm.engine import Engine
from swarm.model import Reply
from swarm.plugin import NodeScript, hookimpl


class InstantModel:
    """Answers every call at once; the reply names the question."""

    def complete(self, messages, *, schema=None, json=False, call_key=None, **_):
        return Reply(text=f"re: {messages[-1]['content']}", model="fixture", prompt_tokens=5, completion_tokens=3)


def fan(ctx):
    if ctx.reports is None and ctx.depth < 2:
        return ctx.spawn([ctx.child("fan", label=f"{ctx.node_id}/{i}") for i in range(3)])
    if ctx.reports is None:
        return ctx.llm(ctx.data.get("label", "root")).text
    return [r.output for r in ctx.reports]


def steps(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("step", n=i) for i in range(5)], policy="sequence")
    return sum(r.output for r in ctx.reports)


def step(ctx):
    return ctx.data["n"] * 10 + sum(r.output for r in ctx.previous)


def ask(ctx):
    if ctx.answer is None:
        return ctx.ask_human("go on?")
    return f"answered {ctx.answer}"


def asks(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask"), ctx.child("fan", label="beside")])
    return [r.output for r in ctx.reports]


class Scripts:
    @hookimpl
    def swarm_node_scripts(self):
        return [NodeScript(name, f"store fixture script {name}", fn)
                for name, fn in (("fan", fan), ("steps", steps), ("step", step), ("ask", ask), ("asks", asks))]


def engine(path: Path, human=None) -> Engine:
    cfg = Config(base_dir=path.parent)
    cfg.store.path = str(path)
    cfg.store.snapshot_every = 7
    catalogue = Catalogue(builtins=False, entry_points=False)
    catalogue.register(Scripts())
    return Engine(cfg, catalogue=catalogue, model=InstantModel(), human=human)


def make(path: Path) -> dict[str, str]:
    """Write the four runs into a new store at `path`; returns their ids by name."""
    from swarm.timetravel import fork

    e = engine(path)
    fan_id, status = asyncio.run(e.run("fan out", script="fan"))
    assert status == "done", status
    steps_id, status = asyncio.run(e.run("steps", script="steps"))
    assert status == "done", status
    asks_id, status = asyncio.run(e.run("asks", script="asks"))
    assert status == "awaiting_approval", status
    first, last = e.store.event_range(fan_id)
    fork_id = fork(e, fan_id, (first + last) // 2)
    assert asyncio.run(e.drive(fork_id)) == "done"
    e.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    e.close()
    return {"fan": fan_id, "steps": steps_id, "asks": asks_id, "fork": fork_id}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    if out.exists():
        raise SystemExit(f"{out} exists; give a new file")
    print(make(out))
