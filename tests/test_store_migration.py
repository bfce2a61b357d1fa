"""A store written by schema 1 (every event its node's whole state, whole-tree snapshots) opens under schema 2:
the migration is numbered and recorded, and every run in it reads, checks out, forks and resumes as before.

The schema-1 store is an SQLite file (restored from its dump), and the numbered-migration tests after it look at
that file's tables; a PostgreSQL database of each older version is brought to the current one at the end."""

from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
from pathlib import Path

import pytest

import store_v1_runs
from store_support import raw_rows, store_for
from swarm.adapters import migrate
from swarm.adapters.postgres import migrations as pg_migrations
from swarm.adapters.sqlite import migrations
from swarm.checkout import checkout
from swarm.errors import StoreError
from swarm.human import PreparedAnswers
from swarm.snapshot import state_at
from swarm.store import SCHEMA_VERSION, Store, loads, open_store
from swarm.testing.pytest_plugin import postgres_only
from swarm.timetravel import diff, fork

DUMP = Path(__file__).parent / "fixtures" / "store_v1.sql.gz"


@pytest.fixture
def v1_store(tmp_path) -> Path:
    """The schema-1 store, restored from its dump into a new file."""
    path = tmp_path / "swarm.db"
    db = sqlite3.connect(path)
    db.executescript(gzip.decompress(DUMP.read_bytes()).decode())
    db.close()
    return path


def raw(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def runs_by_goal(path: Path) -> dict[str, str]:
    """The fixture's runs by goal ("fork" for the fork of "fan out")."""
    return {"fork" if forked else goal: run_id for run_id, goal, forked in raw(path, "SELECT id, goal, forked_from FROM runs")}


def by_hand(path: Path, run_id: str, at: int) -> dict[str, dict]:
    """The run's nodes at an event as schema 1 recorded them: the last whole state of each node up to it."""
    nodes: dict[str, dict] = {}
    for (state,) in raw(path, "SELECT state FROM events WHERE run_id=? AND seq<=? AND state IS NOT NULL ORDER BY seq",
                        (run_id, at)):
        n = json.loads(state)
        nodes[n["id"]] = n
    return nodes


def test_the_fixture_is_a_schema_1_store(v1_store):
    assert raw(v1_store, "SELECT value FROM meta WHERE key='schema_version'") == [("1",)]
    assert "patch" not in {r[1] for r in raw(v1_store, "PRAGMA table_info(events)")}
    assert len(runs_by_goal(v1_store)) == 4


def test_opening_migrates_to_the_current_schema_once_and_records_it(v1_store):
    events_before = raw(v1_store, "SELECT seq, run_id, node_id, kind, at, state, detail FROM events ORDER BY seq")
    Store(v1_store).close()
    meta = dict(raw(v1_store, "SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION) == "5"
    assert float(meta["migrated_to_2_at"]) > 0
    assert {"patch"} <= {r[1] for r in raw(v1_store, "PRAGMA table_info(events)")}
    assert {"since"} <= {r[1] for r in raw(v1_store, "PRAGMA table_info(snapshots)")}
    assert "events_node" in {r[0] for r in raw(v1_store, "SELECT name FROM sqlite_master WHERE type='index'")}
    # the history written before is left as it was
    assert raw(v1_store, "SELECT seq, run_id, node_id, kind, at, state, detail FROM events ORDER BY seq") == events_before
    Store(v1_store).close()  # a second open has nothing to do
    assert dict(raw(v1_store, "SELECT key, value FROM meta"))["migrated_to_2_at"] == meta["migrated_to_2_at"]


def test_every_event_of_an_old_run_checks_out_as_its_recorded_states_say(v1_store):
    store = Store(v1_store)
    for goal, run_id in runs_by_goal(v1_store).items():
        first, last = store.event_range(run_id)
        for at in range(first, last + 1):
            hand = by_hand(v1_store, run_id, at)
            view = {n["id"]: n for n in checkout(store, run_id, at)["nodes"]}
            if goal == "fork":  # a fork's nodes start in its snapshot; its events hold what changed since
                assert {i: view[i] for i in hand} == hand, (goal, at)
            else:
                assert view == hand, (goal, at)
        assert {n["id"]: n for n in state_at(store, run_id)} == {n["id"]: n for n in state_at(store, run_id, last)}
        for ev in store.events(run_id):  # the history reads as it was written
            if ev["node_id"] is not None:
                assert ev["state"] == raw(v1_store, "SELECT state FROM events WHERE seq=?", (ev["seq"],))[0][0]
    store.close()


def test_an_old_run_paused_on_a_person_resumes_to_its_end_under_the_new_layout(v1_store):
    run_id = runs_by_goal(v1_store)["asks"]
    engine = store_v1_runs.engine(v1_store, human=PreparedAnswers({"*": "yes"}))
    assert asyncio.run(engine.drive(run_id)) == "done"
    assert loads(engine.store.run(run_id)["result"]) == ["answered yes", ["re: 1.2/0", "re: 1.2/1", "re: 1.2/2"]]
    # the history now holds old whole states and new deltas; any event still checks out
    first, last = engine.store.event_range(run_id)
    for at in range(first, last + 1):
        nodes = {n["id"]: n for n in checkout(engine.store, run_id, at)["nodes"]}
        assert nodes == {n["id"]: n for n in state_at(engine.store, run_id, at)}
    assert {n["id"]: n["status"] for n in state_at(engine.store, run_id)} == \
        {n["id"]: n["status"] for n in engine.store.node_states(run_id)}
    assert all(n["status"] == "done" for n in engine.store.node_states(run_id))
    engine.close()


def test_an_old_run_forks_mid_run_without_a_model_call_as_the_old_code_forked_it(v1_store):
    runs = runs_by_goal(v1_store)
    run_id, old_fork = runs["fan out"], runs["fork"]  # the fixture's fork was made at the middle event too
    engine = store_v1_runs.engine(v1_store)
    calls = []
    model = engine.endpoint.client()
    complete = model.complete

    def counted(*args, **kwargs):
        calls.append(kwargs.get("call_key"))
        return complete(*args, **kwargs)

    model.complete = counted
    first, last = engine.store.event_range(run_id)
    new_id = fork(engine, run_id, (first + last) // 2)
    assert asyncio.run(engine.drive(new_id)) == "done"
    assert calls == []  # every call was replayed from the old run's records
    assert engine.store.run(new_id)["forked_at"] == engine.store.run(old_fork)["forked_at"]
    d = diff(engine.store, old_fork, new_id)
    assert d["same_result"] and {r["change"] for r in d["nodes"]} == {"same"}
    engine.close()



def test_a_new_store_records_every_numbered_migration_once(tmp_path):
    path = tmp_path / "swarm.db"
    Store(path).close()
    Store(path).close()
    versions = [v for (v,) in raw(path, "SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, len(migrations.MIGRATIONS) + 1)) == list(range(1, SCHEMA_VERSION + 1))
    assert dict(raw(path, "SELECT key, value FROM meta"))["schema_version"] == str(SCHEMA_VERSION)


def test_the_v1_store_records_the_versions_it_had_and_those_it_was_brought_to(v1_store):
    Store(v1_store).close()
    assert [v for (v,) in raw(v1_store, "SELECT version FROM schema_migrations ORDER BY version")] == \
        list(range(1, SCHEMA_VERSION + 1))


def test_a_migration_appended_to_the_list_runs_at_the_next_open_and_only_then(tmp_path, monkeypatch):
    path = tmp_path / "swarm.db"
    Store(path).close()
    added = [*migrations.MIGRATIONS, "ALTER TABLE runs ADD COLUMN colour TEXT; CREATE INDEX runs_colour ON runs (colour)"]
    monkeypatch.setattr(migrations, "MIGRATIONS", added)
    Store(path).close()
    Store(path).close()  # applied once: a second ALTER TABLE would fail
    assert "colour" in {r[1] for r in raw(path, "PRAGMA table_info(runs)")}
    assert raw(path, "SELECT max(version) FROM schema_migrations") == [(len(added),)]
    assert float(dict(raw(path, "SELECT key, value FROM meta"))[f"migrated_to_{len(added)}_at"]) > 0


def test_a_store_written_by_a_newer_swarm_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "swarm.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO schema_migrations VALUES (?, 0)", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=f"newer swarm \\(schema {SCHEMA_VERSION + 1}.*upgrade swarm"):
        Store(path)
    assert raw(path, "SELECT max(version) FROM schema_migrations") == [(SCHEMA_VERSION + 1,)]


# --- PostgreSQL: a database of any older version ends at the current one --------------------------------



def postgres_store_of_version(url: str, version: int) -> None:
    """Make the empty database at `url` what a swarm of schema `version` left: its first `version` migrations run
    and recorded, then one finished run with its event and one route example, written as that swarm wrote them."""
    import psycopg

    from swarm.adapters.postgres.connection import Connection

    with psycopg.connect(url, autocommit=True) as conn:
        c = Connection(conn)
        tables = lambda: {r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()}  # noqa: E731
        assert migrate.run(c, pg_migrations.MIGRATIONS[:version], where=url, tables=tables) == list(range(1, version + 1))
        c.execute("INSERT INTO runs (id, goal, script, status, created_at, finished_at, last_event) "
                  "VALUES ('old', 'an old goal', 'write_text', 'done', 1.0, 2.0, 1)")
        c.execute("UPDATE event_seq SET last = 1")
        c.execute("INSERT INTO events (seq, run_id, node_id, kind, at, detail) VALUES (1, 'old', NULL, 'run_start', 1.0, '{}')")
        c.execute("INSERT INTO route_examples (script, text, kind, at) VALUES ('poker_odds', 'my odds?', 'positive', 1)")


def postgres_schema(url: str) -> tuple[list, list, list]:
    """The tables' columns, the indexes and the constraints of a database (what a migration may change)."""
    return (sorted(raw_rows(url, "SELECT table_name, column_name, data_type, column_default, is_nullable "
                                 "FROM information_schema.columns WHERE table_schema = current_schema()")),
            sorted(raw_rows(url, "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")),
            sorted(raw_rows(url, "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                                 "WHERE connamespace = current_schema()::regnamespace")))


@postgres_only
@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_a_postgres_store_of_an_older_schema_opens_at_the_current_one_with_its_runs(postgres_url, request, version):
    old, new = postgres_url, store_for(request, "postgres", None)  # an empty database; a new store, to compare with
    postgres_store_of_version(old, version)
    assert dict(raw_rows(old, "SELECT key, value FROM meta"))["schema_version"] == str(version)

    store = open_store(old)
    try:
        assert [v for (v,) in raw_rows(old, "SELECT version FROM schema_migrations ORDER BY version")] == \
            list(range(1, SCHEMA_VERSION + 1)) == list(range(1, len(pg_migrations.MIGRATIONS) + 1))
        meta = dict(raw_rows(old, "SELECT key, value FROM meta"))
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert sorted(k for k in meta if k.startswith("migrated_to_")) == \
            [f"migrated_to_{v}_at" for v in range(version + 1, SCHEMA_VERSION + 1)]
        assert postgres_schema(old) == postgres_schema(new)  # tables, columns, indexes, checks: a new store's
        assert store.run("old")["goal"] == "an old goal" and [e["kind"] for e in store.events("old")] == ["run_start"]
        assert store.add_route_example("cribbage_scorer", "Score my crib", "synthetic")  # schema 4's kind
        assert [(r["script"], r["kind"]) for r in store.route_examples()] == \
            [("poker_odds", "positive"), ("cribbage_scorer", "synthetic")]
    finally:
        store.close()
    open_store(old).close()  # a second open has nothing to do
    assert dict(raw_rows(old, "SELECT key, value FROM meta")) == meta

