"""History that grows with what changed: an event records its node's delta, a snapshot the nodes changed since
the one before; any event still checks out exactly."""

from __future__ import annotations

import pytest

import asyncio
import json
import zlib

from lifecycle_support import make_engine, script  # noqa: F401
from swarm.checkout import checkout
from swarm.human import PreparedAnswers
from swarm.snapshot import state_at

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL

STEPS = 300


def long_sequence(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("step", n=i, note="a step of a long plan " * 3) for i in range(STEPS)],
                         policy="sequence")
    return sum(r.output for r in ctx.reports)


def step(ctx):
    return ctx.data["n"]


def fan(ctx):
    if ctx.reports is None and ctx.depth < 2:
        return ctx.spawn([ctx.child("fan") for _ in range(6)])
    return 1 if ctx.reports is None else sum(r.output for r in ctx.reports)


def by_hand(engine, run_id: str, at: int) -> dict[str, dict]:
    nodes = {}
    for ev in engine.store.events(run_id, until=at):
        if ev["state"]:
            state = json.loads(ev["state"])
            nodes[state["id"]] = state
    return nodes


def test_a_step_of_a_long_sequence_records_the_step_not_the_whole_plan(make_engine):
    engine = make_engine(script("plan", long_sequence), script("step", step))
    run_id, status = asyncio.run(engine.run("count", script="plan"))
    assert status == "done"
    rows = engine.store._query("SELECT kind, patch FROM events WHERE run_id=? AND node_id='1' ORDER BY seq", (run_id,))
    steps = sorted(len(r["patch"]) for r in rows if r["kind"] == "step")
    plan = next(len(r["patch"]) for r in rows if r["kind"] == "execute_end")  # the plan, recorded once
    assert len(steps) == STEPS - 1 and plan > 20_000
    assert steps[-2] < 200  # a step records the step: not the plan left, nor the children so far
    assert sum(steps) < 2 * plan + 200 * STEPS  # at most one keyframe on top (a whole state every plan's worth)
    # rebuilt through every one of those deltas, the root's last state is the one the nodes table holds
    root_now = next(n for n in engine.store.node_states(run_id) if n["id"] == "1")
    assert engine.store.events(run_id, node_id="1")[-1]["state"] == json.dumps(root_now, separators=(",", ":"))
    assert len(root_now["children"]) == STEPS and root_now["planned"] == []
    last = engine.store.event_range(run_id)[1]
    assert state_at(engine.store, run_id, last) == state_at(engine.store, run_id)  # history == nodes table


def test_a_snapshot_holds_the_nodes_changed_since_the_one_before(make_engine):
    engine = make_engine(script("fan", fan))
    engine.config.store.snapshot_every = 7
    run_id, status = asyncio.run(engine.run("fan", script="fan"))
    assert status == "done"
    population = engine.store.run(run_id)["nodes"]
    snaps = engine.store._query("SELECT at_event, since, data FROM snapshots WHERE run_id=? ORDER BY id", (run_id,))
    assert len(snaps) >= 3
    held = 0
    for snap in snaps:
        doc = json.loads(zlib.decompress(snap["data"]))
        changed = {r["node_id"] for r in engine.store._query(
            "SELECT DISTINCT node_id FROM events WHERE run_id=? AND seq>? AND seq<=? AND node_id IS NOT NULL",
            (run_id, snap["since"], snap["at_event"]))}
        assert {n["id"] for n in doc["nodes"]} == changed
        held += len(doc["nodes"])
    # a node is held by the snapshots of the intervals it changed in (spawned, ran, ended), not by every one
    assert held <= 3 * population < population * len(snaps)


def question_in_fan(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("maybe_ask", i=i) for i in range(5)])
    return [r.output for r in ctx.reports]


def maybe_ask(ctx):
    if ctx.data["i"] == 2 and ctx.answer is None:
        return ctx.ask_human("go on?")
    return ctx.answer or ctx.data["i"]


def test_checkout_is_exact_across_history_no_snapshot_covers(make_engine):
    # The process that paused the run died before its snapshot was written: the next snapshot starts where the
    # resumed drive did, and the history in between fills the gap.
    plugins = (script("fan", question_in_fan), script("maybe_ask", maybe_ask))
    engine = make_engine(*plugins)
    engine.config.store.snapshot_every = 3
    run_id, status = asyncio.run(engine.run("ask", script="fan"))
    assert status == "awaiting_approval"
    last_snapshot = engine.store._query("SELECT max(id) AS id FROM snapshots WHERE run_id=?", (run_id,))[0]["id"]
    with engine.store.transaction() as c:
        c.execute("DELETE FROM snapshots WHERE id=?", (last_snapshot,))
    resumed = make_engine(*plugins, human=PreparedAnswers({"1.3": "yes"}))
    assert asyncio.run(resumed.drive(run_id)) == "done"
    first, last = resumed.store.event_range(run_id)
    for at in range(first, last + 1):
        assert {n["id"]: n for n in checkout(resumed.store, run_id, at)["nodes"]} == by_hand(resumed, run_id, at), at
    assert state_at(resumed.store, run_id, last) == state_at(resumed.store, run_id)


def test_a_run_keeps_a_bounded_number_of_snapshots_and_every_event_still_checks_out(make_engine, monkeypatch):
    from swarm.adapters.sqlite import runs as store_module

    monkeypatch.setattr(store_module, "SNAPSHOTS_KEPT", 3)
    engine = make_engine(script("fan", fan))
    engine.config.store.snapshot_every = 5
    run_id, status = asyncio.run(engine.run("fan", script="fan"))
    assert status == "done"
    snaps = engine.store._query("SELECT at_event, since, reason FROM snapshots WHERE run_id=? ORDER BY at_event", (run_id,))
    assert len(snaps) == 3 and any("merged" in s["reason"] for s in snaps)
    assert snaps[0]["since"] < snaps[1]["since"] == snaps[0]["at_event"]  # the oldest now covers the merged ones
    first, last = engine.store.event_range(run_id)
    for at in range(first, last + 1):
        assert {n["id"]: n for n in checkout(engine.store, run_id, at)["nodes"]} == by_hand(engine, run_id, at), at


def test_a_window_of_the_history_gives_the_same_whole_states_as_the_whole_history(make_engine):
    # A reader that starts mid-run (the UI's event stream, a replay after a cursor) meets deltas whose node it
    # has not seen yet: their states are rebuilt from that node's history before the window.
    engine = make_engine(script("plan", long_sequence), script("step", step))
    run_id, status = asyncio.run(engine.run("count", script="plan"))
    assert status == "done"
    whole = {e["seq"]: e["state"] for e in engine.store.events(run_id)}
    first, last = engine.store.event_range(run_id)
    for after in (first + 7, (first + last) // 2, last - 5):
        window = engine.store.events(run_id, after=after, limit=50)
        assert window and all(e["state"] == whole[e["seq"]] for e in window)
        assert any(e["node_id"] == "1" for e in window) or after > last - 10


def test_nodes_a_line_no_longer_holds_record_a_keyframe_and_every_event_still_checks_out(make_engine, monkeypatch):
    from swarm import deltas

    monkeypatch.setattr(deltas, "RECORDED_NODES", 5)  # a big tree: most of its nodes spawned long before they run
    engine = make_engine(script("fan", fan))
    run_id, status = asyncio.run(engine.run("fan", script="fan"))
    assert status == "done"
    executes = engine.store._query("SELECT patch FROM events WHERE run_id=? AND kind='execute'", (run_id,))
    assert any(json.loads(r["patch"]).get("*") for r in executes)  # forgotten while pending: a keyframe again
    first, last = engine.store.event_range(run_id)
    for at in range(first, last + 1):
        assert {n["id"]: n for n in checkout(engine.store, run_id, at)["nodes"]} == by_hand(engine, run_id, at), at
    assert state_at(engine.store, run_id, last) == state_at(engine.store, run_id)
