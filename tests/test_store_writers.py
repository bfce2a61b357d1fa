"""Several processes writing one store (issue 14): events are numbered without a gap and in the order their
commits landed, so a reader following the history never sees an effect before its cause; opening a new store
from several processes at once migrates it once. On an SQLite file and on a PostgreSQL database alike."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from lifecycle_support import scaled
from swarm.adapters.postgres import migrations as pg_migrations
from swarm.errors import StoreError, database_errors
from swarm.store import SCHEMA_VERSION, Batch, loads, open_store
from swarm.testing.pytest_plugin import backends, postgres_only

WRITERS, BATCHES, PER_BATCH = 4, 40, 5

WRITE = """
import sys, time
from swarm.store import Batch, open_store
url, writer, batches, per_batch, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
store = open_store(url)
run_id = f"run-{writer}"
store.create_run({"id": run_id, "goal": "g", "script": "s", "status": "running", "created_at": time.time()})
while time.time() < start:
    time.sleep(0.005)
batch = Batch()
for b in range(batches):
    for i in range(per_batch):
        batch.event(run_id, "note", None, {"writer": writer, "batch": b, "i": i})
    store.commit(batch, run_id)
    batch = batch.next()
store.close()
"""


def test_events_of_many_writers_are_numbered_without_a_gap_in_commit_order(store_url):
    store = open_store(store_url)
    tail = store.event_tail()
    seen: list[int] = []
    done = threading.Event()

    def follow() -> None:  # a reader of the whole history, as the UI's live feed reads it
        cursor = 0
        while True:
            finished = done.is_set()
            for row in tail.after(cursor, 1000):
                seen.append(row[0])
                cursor = row[0]
            if finished:
                return
            time.sleep(0.002)

    reader = threading.Thread(target=follow)
    reader.start()
    start = time.time() + 1.0
    writers = [subprocess.Popen([sys.executable, "-c", WRITE, store_url, str(w), str(BATCHES), str(PER_BATCH), str(start)],
                                stderr=subprocess.PIPE, text=True) for w in range(WRITERS)]
    errors = [w.communicate(timeout=scaled(120))[1] for w in writers]
    done.set()
    reader.join(timeout=scaled(60))
    tail.close()
    assert [w.returncode for w in writers] == [0] * WRITERS, errors

    total = WRITERS * BATCHES * PER_BATCH
    assert seen == list(range(1, total + 1))  # the follower never skipped a number it would have to come back for
    for w in range(WRITERS):
        events = store.events(f"run-{w}", states=False)
        assert len(events) == BATCHES * PER_BATCH
        order = [_detail(e) for e in events]
        assert order == sorted(order)  # each writer's turns in the order it committed them
        by_batch: dict[int, list[int]] = {}
        for e, (b, _) in zip(events, order):
            by_batch.setdefault(b, []).append(e["seq"])
        assert all(seqs == list(range(seqs[0], seqs[0] + PER_BATCH)) for seqs in by_batch.values())  # one commit, in a row
        assert store.run(f"run-{w}")["last_event"] == events[-1]["seq"]
    store.close()


def _detail(event: dict) -> tuple[int, int]:
    d = loads(event["detail"])
    return d["batch"], d["i"]


OPEN = """
import sys, time
from swarm.store import open_store
start = float(sys.argv[2])
while time.time() < start:
    pass
open_store(sys.argv[1]).close()
"""


@pytest.fixture(params=backends())
def new_store_url(request, tmp_path) -> str:
    """Where no store is yet: an SQLite file not made, an empty PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'swarm.db'}"
    return request.getfixturevalue("postgres_url")


def test_processes_opening_one_new_store_at_once_migrate_it_once(new_store_url):
    start = time.time() + 1.0
    procs = [subprocess.Popen([sys.executable, "-c", OPEN, new_store_url, str(start)], stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    errors = [p.communicate(timeout=scaled(60))[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    store = open_store(new_store_url)
    versions = [v for (v,) in store.conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    assert versions == list(range(1, len(pg_migrations.MIGRATIONS) + 1)) == list(range(1, SCHEMA_VERSION + 1))
    store.close()


@postgres_only
def test_a_postgres_store_written_by_a_newer_swarm_is_refused(postgres_url):
    open_store(postgres_url).close()
    store = open_store(postgres_url)
    store.conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    store.close()
    with pytest.raises(StoreError, match=f"newer swarm \\(schema {SCHEMA_VERSION + 1}.*upgrade swarm"):
        open_store(postgres_url)


@postgres_only
def test_a_postgres_database_of_something_else_is_refused_and_left_alone(postgres_url):
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id serial PRIMARY KEY)")
    with pytest.raises(StoreError, match="database of something else \\(tables: invoices\\).*new database"):
        open_store(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname='public'").fetchone() == (1,)


@postgres_only
def test_an_unreachable_postgres_store_says_so_and_what_to_do(throwaway_postgres):
    from swarm.testing.postgres import free_port

    with pytest.raises(StoreError, match="cannot reach the PostgreSQL store postgresql://swarm@127.0.0.1:.*start the server"):
        open_store(f"postgresql://swarm@127.0.0.1:{free_port()}/swarm")


@postgres_only
def test_a_postgres_session_the_server_ended_is_made_again_at_the_next_use(postgres_url):
    """The server ends a session (a restart, a client frozen inside a transaction past its limit): the store and
    its tail go on with a new session instead of failing every later read and write."""
    import psycopg

    store = open_store(postgres_url)
    store.create_run({"id": "r1", "goal": "g", "script": "s", "status": "running", "created_at": 0.0})
    tail = store.event_tail()
    tail.last_seq()
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall()
    assert len(ended) == 2
    with pytest.raises(StoreError):  # the read that meets the ended session fails ...
        tail.after(0, 10)
    assert tail.after(0, 10) == []  # ... the next one has a new session
    with pytest.raises(database_errors()):  # as on SQLite, a failed read is the database's error (the CLI words it)
        store.run("r1")
    store.update_run("r1", status="done")
    assert store.run("r1")["status"] == "done"
    tail.close()
    store.close()


def test_a_turn_of_a_thousand_events_is_numbered_in_a_row_after_the_ones_before(any_store):
    any_store.create_run({"id": "r1", "goal": "g", "script": "s", "status": "running", "created_at": 0.0})
    small, big = Batch(), Batch()
    small.event("r1", "note", None, {"i": -1})
    for i in range(1000):  # more than one statement's worth: numbered first, inserted in chunks
        big.event("r1", "note", None, {"i": i})
    assert any_store.commit(small, "r1") == 1
    assert any_store.commit(big, "r1") == 1001
    events = any_store.events("r1", states=False)
    assert [e["seq"] for e in events] == list(range(1, 1002))
    assert [loads(e["detail"])["i"] for e in events] == list(range(-1, 1000))
