"""Paid model replies are written by the store's writer in its next transaction: the turn's commit when one is
queued, else their own, several together; never later than that, and never lost to a failed write."""

from __future__ import annotations

import pytest

from swarm.errors import StoreError
from swarm.store import Batch, Store


def paid(i: int) -> dict:
    return {"key": f"r1/1.{i}/r0/a0", "run_id": "r1", "node_id": f"1.{i}", "round": 0, "attempt": 0,
            "request": "{}", "reply": '{"text":"ok"}', "prompt_tokens": 10, "completion_tokens": 2, "cost_usd": 0.01,
            "at": float(i)}


def transactions(store: Store) -> list[list[str]]:
    """Record the statements of each transaction on the store's connection from now on."""
    out: list[list[str]] = []

    def trace(sql: str) -> None:
        if sql.startswith("BEGIN"):
            out.append([])
        elif out:
            out[-1].append(sql)

    store.conn.set_trace_callback(trace)
    return out


# SQLite only: these tests watch the statements of each transaction (sqlite3's trace callback) and fill the disk
# with max_page_count. On PostgreSQL the writer's paid replies are exercised by every run of the both-backend tests.
@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "swarm.db")
    s.create_run({"id": "r1", "goal": "g", "script": "s", "status": "running", "created_at": 0.0})
    yield s
    s.close()


def test_replies_waiting_when_a_turn_commits_are_written_in_that_commit(store):
    seen = transactions(store)
    store.paid_calls.extend(paid(i) for i in range(3))
    turn = Batch()
    turn.event("r1", "execute", None, {})
    store.commit(turn, "r1")
    store.write_paid_calls()  # queued by each reply after the turn's commit: nothing left to do
    assert len(seen) == 1
    assert any("INTO llm_calls" in s for s in seen[0]) and any("INTO events" in s for s in seen[0])
    assert len(store.llm_calls("r1")) == 3


def test_replies_with_no_turn_to_join_are_written_together_in_one_transaction(store):
    seen = transactions(store)
    store.paid_calls.extend(paid(i) for i in range(5))
    for _ in range(5):  # each reply queued a write; the first takes them all
        store.write_paid_calls()
    assert len(seen) == 1 and len(store.llm_calls("r1")) == 5


def test_replies_taken_by_a_commit_that_failed_are_written_by_the_next_transaction(store):
    store.paid_calls.extend(paid(i) for i in range(3))
    turn = Batch()
    turn.event("r1", "spawn", None, {"children": "x" * 200_000})  # needs new pages: the disk is full
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(StoreError, match="database or disk is full"):
        store.commit(turn, "r1")
    assert store.llm_calls("r1") == [] and len(store.paid_calls) == 3  # waiting still, in their order
    store.conn.execute("PRAGMA max_page_count=1073741823")
    store.write_paid_calls()
    assert [c["node_id"] for c in store.llm_calls("r1")] == ["1.0", "1.1", "1.2"]
