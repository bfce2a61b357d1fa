"""The storage ports (swarm/ports.py): the store hands out each of them, with every method the port lists, and
the modules that used to reach into the store's connection now hold no SQL at all."""

from __future__ import annotations

import inspect
import re
import time
from pathlib import Path

import orjson
import pytest

from swarm import ports
from swarm.node import Status, TaskNode
from swarm.statuses import EventKind
from swarm.store import Batch, Store

SWARM = Path(__file__).resolve().parent.parent / "swarm"
# The modules whose SQL moved behind a port: none of them may name the store's connection, lock or private reads.
PORT_CALLERS = ("daemon/ledger.py", "memory.py", "metrics.py", "ui/events.py", "api.py", "routing_history.py", "ui/queries.py")
REACHING_IN = re.compile(r"store\.conn\b|store\.lock\b|\._query\(|\.transaction\(|\bsqlite3\b|\bSELECT\b|\bINSERT\b|\bUPDATE\b|\bDELETE FROM\b")


@pytest.fixture
def store(any_store):
    """Each test runs on both backends: an SQLite file, a PostgreSQL database."""
    return any_store


def handed_out(store: Store) -> dict[type, object]:
    return {ports.RunStore: store, ports.GoalLedger: store.goals, ports.MemoryStore: store.memories,
            ports.MetricsReader: store.metrics, ports.GoalQueue: store.queue, ports.RunLeases: store.leases,
            ports.EventTail: store.event_tail(), ports.Wakeups: store.wakeups, ports.RateBuckets: store.rate_buckets}


def test_the_store_hands_out_every_port_with_the_methods_it_lists(store):
    for port, adapter in handed_out(store).items():
        for name, wanted in vars(port).items():
            if name.startswith("_") or not callable(wanted):
                continue
            have = getattr(adapter, name, None)
            assert callable(have), f"{type(adapter).__name__} lacks {port.__name__}.{name}"
            assert list(inspect.signature(have).parameters) == list(inspect.signature(wanted).parameters)[1:], \
                f"{type(adapter).__name__}.{name} takes other parameters than {port.__name__}.{name}"
        if port is ports.EventTail:
            adapter.close()


# SQL as it would be written to a database: a statement's keywords, a driver's execute, a pragma.
SQL = re.compile(r"\.execute(many)?\(|\bSELECT\b.+\bFROM\b|\bINSERT (OR \w+ )?INTO\b|\bUPDATE \w+ SET\b|\bDELETE FROM\b"
                 r"|\bCREATE (TABLE|INDEX|DATABASE)\b|\bALTER TABLE\b|\bPRAGMA\b")
# Where SQL may be: the backends' adapter packages, and the throwaway cluster of the tests.
SQL_HOMES = ("adapters/", "testing/postgres.py")
NOT_SQL = re.compile(r"script\.execute\(ctx\)")  # a script's execute is not a database's


def test_no_module_outside_the_adapters_holds_sql():
    found = [f"{path.relative_to(SWARM)}:{n}: {line.strip()}"
             for path in sorted(SWARM.rglob("*.py"))
             if not str(path.relative_to(SWARM)).startswith(SQL_HOMES)
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if SQL.search(line) and not NOT_SQL.search(line)]
    assert found == [], "SQL outside swarm/adapters/: move it behind a port (swarm/ports.py):\n" + "\n".join(found)


@pytest.mark.parametrize("module", PORT_CALLERS)
def test_a_caller_of_a_port_holds_no_sql(module):
    found = [line.strip() for line in (SWARM / module).read_text().splitlines() if REACHING_IN.search(line)]
    assert found == [], f"swarm/{module} reaches past the storage port: {found}"


def test_the_event_tail_follows_new_commits_with_whole_node_states(store):
    tail = store.event_tail()
    try:
        assert tail.last_seq() == 0 and tail.changed() is True and tail.changed() is False
        now = time.time()
        store.create_run({"id": "r1", "goal": "g", "script": "s", "status": "running", "created_at": now})
        node = TaskNode(id="1", run_id="r1", parent=None, script="s", data={"goal": "g"}, created_at=now)
        batch = Batch()
        batch.event("r1", EventKind.RUN_START, None, {"goal": "g"})
        batch.event("r1", EventKind.SPAWN, node)
        store.commit(batch, "r1")
        assert tail.changed() is True
        first = tail.after(0, 100)
        assert [(r[3], r[2]) for r in first] == [("run_start", None), ("spawn", "1")]
        node.status, node.output = Status.DONE, 42
        batch = batch.next()
        batch.event("r1", EventKind.TERMINATE, node)  # recorded as what changed since the spawn
        store.commit(batch, "r1")
        assert tail.changed() is True
        [(seq, run_id, node_id, kind, _, state, _)] = tail.after(first[-1][0], 100)
        whole = orjson.loads(state)
        assert (run_id, node_id, kind) == ("r1", "1", "terminate") and whole["status"] == "done" and whole["output"] == 42
        assert whole["data"] == {"goal": "g"} and tail.last_seq() == seq and tail.changed() is False
    finally:
        tail.close()


def test_the_goal_ledger_keeps_a_claims_error_when_its_outcome_brings_none(store):
    from swarm.daemon import ledger

    goal_id = ledger.record_claim(store, "in", "bad.json", "bad.json", "sha", None, error="not JSON")
    ledger.record_outcome(store, goal_id, "failed", "in/failed/bad.json")
    row = ledger.get(store, goal_id)
    assert (row["state"], row["outcome"], row["error"]) == ("finishing", "failed", "not JSON")
    ledger.record_finished(store, goal_id)
    assert ledger.unfinished(store, "in") == [] and ledger.goals(store, "in")[0]["state"] == "finished"
