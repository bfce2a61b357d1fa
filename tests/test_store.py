"""The store: nothing half-written when a write fails, history and snapshots agree."""

from __future__ import annotations

import asyncio
import json

import pytest

from lifecycle_support import make_engine, script  # noqa: F401
from swarm.adapters.sqlite import runs as store_module
from swarm.errors import StoreDamaged, StoreError
from swarm.snapshot import state_at
from swarm.store import Batch, Store

both_backends = pytest.mark.usefixtures("store_url")  # the test runs on SQLite and on PostgreSQL


def fan_out(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("leaf", i=i) for i in range(20)])
    return sum(r.output for r in ctx.reports)


def leaf(ctx):
    return ctx.data["i"]


# SQLite only: a full disk is made with max_page_count, and a damaged store is a damaged file. A failed write on
# PostgreSQL (a refused statement, a lost session) is met in test_daemon_hostile and test_store_writers.
def test_a_failed_write_stops_the_run_with_a_clear_error_and_resume_finishes_it(make_engine):
    engine = make_engine(script("fan_out", fan_out), script("leaf", leaf))
    run_id = engine.create_run("sum", script="fan_out")
    pages = engine.store.conn.execute("PRAGMA page_count").fetchone()[0]
    engine.store.conn.execute(f"PRAGMA max_page_count={pages}")  # the disk is full from now on
    with pytest.raises(StoreError, match=f"could not write run {run_id}.*swarm resume {run_id}"):
        asyncio.run(engine.drive(run_id))
    assert engine.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    engine.store.conn.execute("PRAGMA max_page_count=1073741823")
    assert asyncio.run(engine.drive(run_id)) == "done"
    assert json.loads(engine.store.run(run_id)["result"]) == sum(range(20))


def test_after_a_failed_write_no_later_turn_of_that_drive_is_written(tmp_path):
    # The loop hands turns to the writer without waiting; a small later turn (a child's end) must not
    # land in the store after the turn that spawned the child was lost, or the resume reads a parent
    # waiting on children that were never recorded.
    store = Store(tmp_path / "swarm.db")
    store.create_run({"id": "r1", "goal": "g", "script": "s", "status": "running", "created_at": 0.0})
    spawn = Batch()
    spawn.event("r1", "spawn", None, {"children": "x" * 200_000})  # needs new pages: the disk is full
    child_end = spawn.next()
    child_end.event("r1", "terminate", None, {"node": "1.1"})  # fits in the pages the store has
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(StoreError, match="database or disk is full"):
        store.commit(spawn, "r1")
    with pytest.raises(StoreError, match="an earlier write failed.*swarm resume r1"):
        store.commit(child_end, "r1")
    assert store.events("r1") == []

    resumed = Batch()  # a resume rebuilds from the store and starts a new line of writes
    resumed.event("r1", "run_start", None, {})
    assert store.commit(resumed, "r1") > 0
    assert [e["kind"] for e in store.events("r1")] == ["run_start"]
    store.close()


@both_backends
def test_state_rebuilt_from_history_matches_the_nodes_table_at_every_snapshot_interval(make_engine):
    engine = make_engine(script("fan_out", fan_out), script("leaf", leaf))
    engine.config.store.snapshot_every = 7  # snapshots land mid-run
    run_id, status = asyncio.run(engine.run("sum", script="fan_out"))
    assert status == "done"
    rebuilt = {n["id"]: n for n in state_at(engine.store, run_id)}
    rows = engine.store._query("SELECT id, status FROM nodes WHERE run_id=?", (run_id,))
    assert {r["id"]: r["status"] for r in rows} == {i: n["status"] for i, n in rebuilt.items()}
    snaps = engine.store._query("SELECT at_event FROM snapshots WHERE run_id=? ORDER BY at_event", (run_id,))
    assert len(snaps) >= 3
    # Any event can be inspected: the tree right after the root spawned its children.
    spawned = [e["seq"] for e in engine.store.events(run_id) if e["kind"] == "execute_end" and e["node_id"] == "1"][0]
    early = {n["id"]: n["status"] for n in state_at(engine.store, run_id, spawned)}
    assert early["1"] == "waiting"
    assert len(early) == 21 and all(early[f"1.{i}"] in ("pending", "running") for i in range(1, 21))


def fan_out_with_a_question(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("maybe_ask", i=i) for i in range(6)])
    return [r.output for r in ctx.reports]


def maybe_ask(ctx):
    if ctx.data["i"] == 3 and ctx.answer is None:
        return ctx.ask_human("go on?")
    return ctx.answer or ctx.data["i"]


@both_backends
def test_a_run_resumed_mid_fan_out_wakes_the_parent_when_the_last_child_ends(make_engine):
    from swarm.human import PreparedAnswers

    plugins = (script("fan_out", fan_out_with_a_question), script("maybe_ask", maybe_ask))
    engine = make_engine(*plugins)
    run_id, status = asyncio.run(engine.run("ask", script="fan_out"))
    assert status == "awaiting_approval"  # five children done, one waiting for a person

    resumed = make_engine(*plugins, human=PreparedAnswers({"1.4": "yes"}))
    assert asyncio.run(resumed.drive(run_id)) == "done"
    assert json.loads(resumed.store.run(run_id)["result"]) == [0, 1, 2, "yes", 4, 5]


# --- a damaged file gets no new work ------------------------------------------------------------------


def a_store_with_history(path, runs: int = 60) -> None:
    """A store of a few hundred kilobytes: runs, each with a hundred events."""
    store = Store(path)
    for r in range(runs):
        batch = Batch()
        for i in range(100):
            batch.event(f"run-{r}", "execute", None, {"note": f"event {i} of run {r}", "pad": "x" * 40})
        store.create_run({"id": f"run-{r}", "goal": "g", "script": "s", "status": "done", "created_at": float(r)}, batch)
    store.close()


def damage(path, at: float = 0.4, size: int = 8192) -> bytes:
    """Write `size` bytes of garbage at `at` of the file (page-aligned), as a failing disk or a stray write
    would; returns the file's bytes afterwards."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at) // 4096 * 4096
    data[start:start + size] = bytes((i * 37 + 11) % 256 for i in range(size))
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_damaged_store_is_refused_at_open_with_what_to_do_and_left_as_it_was(tmp_path):
    path = tmp_path / "swarm.db"
    a_store_with_history(path)
    damaged_bytes = damage(path)
    with pytest.raises(StoreDamaged, match=r"is damaged .*Restore it from a backup.*\.recover.*fixed\.db") as caught:
        Store(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == damaged_bytes
    assert not (tmp_path / "swarm.db-wal").exists() or (tmp_path / "swarm.db-wal").stat().st_size == 0


def test_a_reader_of_a_big_store_skips_the_check_but_gets_no_new_run_into_it(tmp_path, monkeypatch):
    path = tmp_path / "swarm.db"
    a_store_with_history(path)
    damaged_bytes = damage(path)
    monkeypatch.setattr(store_module, "READ_CHECK_MAX_BYTES", 1024)  # this store counts as big
    store = Store(path, check="if_small")  # opens: reading what is intact is still useful
    assert store.run("run-0")["goal"] == "g"
    with pytest.raises(StoreDamaged, match="is damaged"):
        store.create_run({"id": "new", "goal": "g", "script": "s", "status": "running", "created_at": 0.0})
    store.close()
    assert path.read_bytes() == damaged_bytes


def test_a_big_store_is_checked_again_for_a_new_run_at_most_a_share_of_the_time(tmp_path, monkeypatch):
    """A daemon's store grows for months: reading all of it before every goal would cost more with every goal."""
    path = tmp_path / "swarm.db"
    a_store_with_history(path)
    monkeypatch.setattr(store_module, "RECHECK_ALWAYS_BYTES", 1024)  # this store counts as big
    store = Store(path)  # checked at open
    checks = []
    real_check = store.check
    monkeypatch.setattr(store, "check", lambda: (checks.append(1), real_check())[1])
    store.check_took = 1.0  # as if that check took a second: the next may come 1 / CHECK_SHARE seconds later
    for i in range(3):
        store.create_run({"id": f"soon-{i}", "goal": "g", "script": "s", "status": "done", "created_at": 0.0})
    assert checks == []
    store.checked_at -= 1.0 / store_module.CHECK_SHARE  # that much time has passed
    store.create_run({"id": "later", "goal": "g", "script": "s", "status": "done", "created_at": 0.0})
    assert checks == [1]
    store.close()


def test_a_store_damaged_while_open_gets_no_new_run(tmp_path):
    path = tmp_path / "swarm.db"
    a_store_with_history(path)
    store = Store(path)  # checked: fine
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damage(path)  # meanwhile, something else writes over part of the file
    with pytest.raises(StoreDamaged, match="is damaged"):
        store.create_run({"id": "new", "goal": "g", "script": "s", "status": "running", "created_at": 0.0})
    store.close()
