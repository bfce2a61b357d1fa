"""Views of a big run that make only what they show, and loading it without a second copy of each node: the top of
a checkout, partial states, nodes adopted from their states, the history's lines. Each must say exactly what the
whole-state path says (checkout, state_at, TaskNode.from_state)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lifecycle_support import make_engine, script  # noqa: F401
from timeouts import scaled

from swarm.checkout import ATTENTION, checkout, checkout_top
from swarm.deltas import whole
from swarm.human import PreparedAnswers
from swarm.node import TaskNode
from swarm.render import event_lines
from swarm.snapshot import nodes_now, partial_states_at, state_at

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL

REPO = Path(__file__).resolve().parent.parent
STEPS = 40


def fan(ctx):
    """Six children a node down to `levels` (3: 1 + 6 + 36 + 216 = 259 nodes); the node `ask` asks a person."""
    levels, ask = ctx.data["levels"], ctx.data["ask"]
    if ctx.node_id == ask and ctx.answer is None:
        return ctx.ask_human("go on?")
    if ctx.reports is None and ctx.depth < levels:
        return ctx.spawn([ctx.child("fan", levels=levels, ask=ask) for _ in range(6)])
    return 1 if ctx.reports is None else sum(r.output for r in ctx.reports)


def plan(ctx):
    """A sequence: its children list grows and its plan shrinks one step at a time (deltas + and -)."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("step", n=i) for i in range(STEPS)], policy="sequence")
    return sum(r.output for r in ctx.reports)


def step(ctx):
    return ctx.data["n"]


@pytest.fixture
def small_snapshots(monkeypatch):
    """Snapshots often, few kept (so some are merged), few nodes held by a line of writes (keyframes again)."""
    from swarm import deltas
    from swarm.adapters.sqlite import runs as store_module

    monkeypatch.setattr(store_module, "SNAPSHOTS_KEPT", 3)
    monkeypatch.setattr(deltas, "RECORDED_NODES", 5)


def paused_then_resumed(make_engine):
    """A fan of 43 nodes whose node 1.2.3 asked a person; then answered and driven to its end."""
    plugins = (script("fan", fan),)
    engine = make_engine(*plugins)
    engine.config.store.snapshot_every = 5
    run_id, status = asyncio.run(engine.run("fan", script="fan", data={"levels": 2, "ask": "1.2.3"}))
    assert status == "awaiting_approval"
    resumed = make_engine(*plugins, human=PreparedAnswers({"*": "7"}))
    resumed.config.store.snapshot_every = 5
    assert asyncio.run(resumed.drive(run_id)) == "done"
    return resumed, run_id


def depth(node: dict) -> int:
    return node["id"].count(".")


def test_the_top_of_a_checkout_says_what_the_whole_checkout_says_at_every_event(make_engine, small_snapshots):
    engine, run_id = paused_then_resumed(make_engine)
    first, last = engine.store.event_range(run_id)
    limit = 8  # the root and its 6 children fit; their 36 children do not
    for at in range(first, last + 1):
        full, top = checkout(engine.store, run_id, at), checkout_top(engine.store, run_id, at, limit=limit)
        nodes = full["nodes"]
        by_status: dict[str, int] = {}
        for n in nodes:
            by_status[n["status"]] = by_status.get(n["status"], 0) + 1
        assert top["by_status"] == by_status, at
        cut = top["levels"]
        levels = sorted({depth(n) for n in nodes})
        within = [d for d in levels if sum(1 for n in nodes if depth(n) <= d) <= limit]
        assert cut == (max(within) if within else min(levels, default=0)), at  # the deepest level that fits
        assert top["nodes"] == [n for n in nodes if depth(n) <= cut], at  # whole states, in tree order
        below: dict[str, dict[str, int]] = {}
        for n in nodes:
            if depth(n) > cut:
                counts = below.setdefault(".".join(n["id"].split(".")[:cut + 1]), {})
                counts[n["status"]] = counts.get(n["status"], 0) + 1
        assert top["below"] == below, at
        attention = [n for n in nodes if depth(n) > cut and n["status"] in ATTENTION]
        assert top["attention"] == attention[:limit] and top["attention_count"] == len(attention), at
        assert top["run"] == {**full["run"], "cost_usd": math.fsum(n["cost_usd"] for n in nodes)}, at
        assert (top["event"], top["events"], top["at_event"]) == (full["event"], full["events"], full["at_event"])


@pytest.mark.parametrize("shape", ["sequence", "fan paused and resumed"])
def test_partial_states_made_whole_are_the_states_of_state_at(make_engine, small_snapshots, shape):
    if shape == "sequence":  # children appended and steps taken off, as deltas on partial states
        engine = make_engine(script("plan", plan), script("step", step))
        engine.config.store.snapshot_every = 7
        run_id, status = asyncio.run(engine.run("count", script="plan"))
        assert status == "done"
    else:
        engine, run_id = paused_then_resumed(make_engine)
    first, last = engine.store.event_range(run_id)
    for at in range(first, last + 1):
        made = sorted((whole(p, run_id) for p in partial_states_at(engine.store, run_id, at).values()),
                      key=lambda n: tuple(map(int, n["id"].split("."))))
        states = state_at(engine.store, run_id, at)
        assert made == states, at
        assert [list(n) for n in made] == [list(n) for n in states], at  # the same fields in the same order


def test_a_drive_starts_from_the_nodes_from_state_would_make(make_engine):
    plugins = (script("fan", fan),)
    engine = make_engine(*plugins)
    run_id, status = asyncio.run(engine.run("fan", script="fan", data={"levels": 3, "ask": "1.2.3.4"}))
    assert status == "awaiting_approval"
    adopted = nodes_now(engine.store, run_id)
    made = {s["id"]: TaskNode.from_state(s) for s in state_at(engine.store, run_id)}
    assert list(adopted) == list(made)  # tree order
    assert all(adopted[i] == made[i] and list(adopted[i].state()) == list(made[i].state()) for i in made)
    assert adopted["1.2.3.4"].status.final is False and adopted["1.1.1.1"].status.final is True  # enum statuses
    adopted["1"].children.append("x")  # each node's lists are its own
    assert nodes_now(engine.store, run_id)["1"].children == made["1"].children


def test_a_state_that_is_not_a_whole_one_is_adopted_as_from_state_makes_it():
    partial = {"id": "1.2", "run_id": "r", "parent": "1", "script": "fan", "data": {}, "status": "done"}
    assert TaskNode.adopt(dict(partial)) == TaskNode.from_state(partial)
    shuffled = dict(reversed(list(TaskNode.from_state(partial).state().items())))
    adopted = TaskNode.adopt(shuffled)
    assert adopted == TaskNode.from_state(partial) and tuple(adopted.state()) == TaskNode.FIELDS
    with pytest.raises(ValueError):
        TaskNode.adopt({**TaskNode.from_state(partial).state(), "status": "asleep"})


def swarm(store, *args: str) -> subprocess.CompletedProcess:
    """The CLI in a process of its own, on this store (an SQLite file, or a PostgreSQL database by its URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env["SWARM_STORE"] = str(store.path)
    env["SWARM_STORE_URL"] = getattr(store, "url", "")
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], cwd=store.path.parent, env=env,
                          capture_output=True, text=True, timeout=scaled(120))


def test_checkout_of_a_big_tree_prints_its_top_and_all_of_it_with_all(make_engine):
    engine = make_engine(script("fan", fan))
    run_id, status = asyncio.run(engine.run("fan", script="fan", data={"levels": 3, "ask": "1.2.3.4"}))
    assert status == "awaiting_approval" and engine.store.run(run_id)["nodes"] == 259
    at = engine.store.event_range(run_id)[1]
    store = engine.store
    top = swarm(store, "checkout", run_id, "--at", str(at))
    assert top.returncode == 0, top.stderr
    lines = top.stdout.splitlines()
    assert lines[3].startswith("259 nodes (1 awaiting_approval, 255 done, 3 waiting) · ")
    shown = [line.split()[1] for line in lines[4:] if line.strip()[:1] in "·▶…?✓✗⊘"]
    assert shown[:43] == [n["id"] for n in state_at(engine.store, run_id) if depth(n) <= 2]  # levels 0 to 2
    assert "      ⋯ 6 more below (6 done)" in lines and "      ⋯ 6 more below (1 awaiting_approval, 5 done)" in lines
    assert "below level 2: 1 running, waiting for a person or failed:" in lines
    assert shown[43:] == ["1.2.3.4"]
    assert "43 of 259 nodes shown (levels 0 to 2) and 1 below them" in lines
    assert lines[-1] == "--all lists every node; --json gives every state"
    every = swarm(store, "checkout", run_id, "--at", str(at), "--all")
    assert every.returncode == 0, every.stderr
    assert every.stdout.splitlines()[:4] == lines[:4]  # the same header and counts
    listed = [line.split()[1] for line in every.stdout.splitlines()[4:] if line.strip()[:1] in "·▶…?✓✗⊘"]
    assert listed == [n["id"] for n in state_at(engine.store, run_id)]


def test_history_lines_read_the_status_after_each_event_to_the_millisecond():
    at = time.mktime((2026, 11, 27, 14, 5, 9, 0, 0, -1)) + 0.25
    events = [
        {"seq": 7, "at": at, "node_id": "1.2", "kind": "execute_end", "state": '{"id":"1.2","status":"done"}',
         "detail": "ok\x1b[2J"},
        {"seq": 8, "at": at + 0.5, "node_id": "1", "kind": "spawn", "state": '{"status":"waiting","output":NaN}',
         "detail": None},  # NaN: what the store's slow encoder may write
        {"seq": 9, "at": at + 1.0, "node_id": None, "kind": "run_end", "state": None, "detail": '{"status":"done"}'},
    ]
    assert event_lines(events) == [
        f"{7:>6} 14:05:09.250 {'1.2':<10} {'execute_end':<18} {'done':<18} ok",
        f"{8:>6} 14:05:09.750 {'1':<10} {'spawn':<18} {'waiting':<18} ",
        f"{9:>6} 14:05:10.250 {'-':<10} {'run_end':<18} {'':<18} " + '{"status":"done"}',
    ]


@pytest.mark.parametrize("node", [None, "1"])
def test_the_history_a_page_at_a_time_is_the_whole_history(make_engine, small_snapshots, node):
    engine = make_engine(script("plan", plan), script("step", step), script("fan", fan))
    run_id, status = asyncio.run(engine.run("count", script="plan"))
    assert status == "done"
    pages = list(engine.store.event_pages(run_id, node_id=node, page=7))
    assert all(len(p) == 7 for p in pages[:-1]) and len(pages) > 3
    assert [e for p in pages for e in p] == engine.store.events(run_id, node_id=node)


@pytest.mark.parametrize("node", [None, "1"])
def test_pages_of_decoded_states_are_the_states_and_print_the_same_history(make_engine, small_snapshots, node):
    engine = make_engine(script("plan", plan), script("step", step), script("fan", fan))
    run_id, status = asyncio.run(engine.run("count", script="plan"))
    assert status == "done"
    as_json = [e for p in engine.store.event_pages(run_id, node_id=node, page=7) for e in p]
    decoded = [e for p in engine.store.event_pages(run_id, node_id=node, page=7, decoded=True) for e in p]
    assert decoded == [{**e, "state": json.loads(e["state"]) if e["state"] else e["state"]} for e in as_json]
    assert event_lines(decoded) == event_lines(as_json)
