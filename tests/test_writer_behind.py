"""The store's writer works behind a run, never in its way: paid replies that come back together are one write of
the writer, however many, and a periodic snapshot is taken while the loop goes on starting nodes."""

from __future__ import annotations

import json
import threading

import pytest

from lifecycle_support import make_engine, run, scaled, script  # noqa: F401
from swarm import journal
from swarm.snapshot import state_at

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL

WIDE = 24


def test_replies_that_come_back_together_are_one_write_and_each_is_recorded(make_engine):
    holding, all_in = threading.Event(), threading.Event()
    writes: list[int] = []
    replied: list[str] = []
    counting = threading.Lock()

    def fan(ctx):
        if ctx.reports is None:
            return ctx.spawn([ctx.child("leaf") for _ in range(WIDE)])
        return len(ctx.reports)

    def hold_the_writer():  # the last leaf to arrive keeps the writer busy until every reply has come back
        engine.writer.submit(all_in.wait, scaled(30))
        holding.set()

    together = threading.Barrier(WIDE, action=hold_the_writer)

    def leaf(ctx):
        together.wait(scaled(30))
        text = ctx.llm(f"leaf {ctx.node_id}").text
        with counting:  # its reply is queued for the writer (or already taken by a commit that was under way)
            replied.append(ctx.node_id)
        return text

    engine = make_engine(script("fan", fan), script("leaf", leaf), concurrency=WIDE)
    write = engine.store.write_paid_calls

    def counted():
        writes.append(len(engine.store.paid_calls))
        write()

    engine.store.write_paid_calls = counted
    opener = threading.Thread(target=lambda: holding.wait(scaled(30)) and _open_when(replied, all_in), daemon=True)
    opener.start()
    run_id, status = run(engine, "wide", "fan")
    assert status == "done" and all_in.is_set()
    calls = engine.store.llm_calls(run_id)
    assert sorted(c["node_id"] for c in calls) == sorted(f"1.{i}" for i in range(1, WIDE + 1))
    assert len({c["key"] for c in calls}) == WIDE  # each paid once
    # The replies queued one write between them (before: one each, all but the first with nothing left to do).
    assert len(writes) < WIDE // 2, writes


def _open_when(replied: list[str], all_in: threading.Event) -> None:
    while len(replied) < WIDE:
        threading.Event().wait(0.01)
    all_in.set()


def test_the_loop_starts_nodes_while_a_periodic_snapshot_is_written(make_engine, monkeypatch):
    # The loop rightly waits once MAX_WRITES_IN_FLIGHT writes queue up; when the writer is already behind as the
    # snapshot begins (a cold PostgreSQL connection), that back-pressure alone could hold the three starts. Raised,
    # only waiting for the snapshot itself could hold them.
    monkeypatch.setattr(journal, "MAX_WRITES_IN_FLIGHT", 1000)
    blocked, opened, started_meanwhile = threading.Event(), threading.Event(), []
    outcomes: list[bool] = []

    def chain(ctx):
        if not blocked.is_set():  # the run never gets ahead of its writer's first periodic snapshot (a slow store)
            blocked.wait(scaled(10))
        elif not opened.is_set():
            started_meanwhile.append(ctx.node_id)
            if len(started_meanwhile) >= 3:  # three executions began while the snapshot was being written
                opened.set()
        if ctx.reports is None and ctx.depth < 6:
            return ctx.spawn([ctx.child("chain")])
        return ctx.depth

    engine = make_engine(script("chain", chain), settings={"SWARM_STORE_SNAPSHOT_EVERY": "1"})
    save = engine.store.save_changes

    def slow_save(run_id, at_event, reason, *args):
        if reason == "periodic" and not blocked.is_set():
            blocked.set()
            outcomes.append(opened.wait(scaled(10)))  # a loop that waited for it would start nothing now
        return save(run_id, at_event, reason, *args)

    engine.store.save_changes = slow_save
    run_id, status = run(engine, "a chain", "chain")
    assert status == "done"
    assert outcomes == [True], started_meanwhile
    # Taken behind the loop, each snapshot still holds the run exactly as it was at its event.
    for snap in engine.store.snapshot_chain(run_id):
        assert state_at(engine.store, run_id, snap["at_event"]) == _from_history(engine, run_id, snap["at_event"])


def _from_history(engine, run_id: str, at: int) -> list[dict]:
    """The nodes at event `at` from the events alone (no snapshot): the last state each event recorded."""
    last: dict[str, dict] = {}
    for ev in engine.store.events(run_id, until=at):
        if ev["node_id"] is not None and ev["state"] is not None:
            last[ev["node_id"]] = json.loads(ev["state"])
    return sorted(last.values(), key=lambda n: tuple(map(int, n["id"].split("."))))
