"""Statuses and event kinds are enums spelled once (swarm/statuses.py), whose values are the text the store
keeps; every status the loop writes can be listed, `paused` too."""

from __future__ import annotations

import asyncio

import pytest

from lifecycle_support import ask_model, make_engine, scaled, script  # noqa: F401
from swarm.node import Status
from swarm.statuses import RUN_FINAL, RUN_STATUSES, EventKind, NodeStatus, RunStatus
from store_support import raw_rows, store_url_of
from ui_support import request, start_ui, wait_for

both_backends = pytest.mark.usefixtures("store_url")  # the test runs on SQLite and on PostgreSQL


def echo(ctx):
    return f"echo: {ctx.data['goal']}"


def slow(ctx):
    """Ten children one after another, each asking the (slow) model: a run that is still going when paused."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask", question=f"step {i}") for i in range(10)], policy="sequence")
    return len(ctx.reports)


MODEL = [{"match": "^step", "reply": "ok", "delay_s": 0.3, "repeat": True}, {"reply": "blue", "repeat": True}]


@pytest.fixture
def engine(make_engine):
    return make_engine(script("echo", echo), script("slow", slow), script("ask", ask_model), model=MODEL,
                       root_script="echo")


def api(server, method: str, path: str, body=None):
    return request(server.url + path, method, {"X-Swarm-Token": server.token}, body=body)


def test_a_status_is_the_very_text_the_store_keeps():
    assert RunStatus.AWAITING_APPROVAL == "awaiting_approval" and str(RunStatus.PAUSED) == "paused"
    assert f"{EventKind.RUN_END}" == "run_end" and "done" in RUN_FINAL
    assert Status is NodeStatus and Status("waiting") is NodeStatus.WAITING


@both_backends
def test_the_history_is_written_and_read_back_in_the_same_words(engine):
    run_id = engine.create_run("hello")
    asyncio.run(engine.drive(run_id))
    url = store_url_of(engine)
    [(status,)] = raw_rows(url, "SELECT status FROM runs WHERE id=?", (run_id,))
    kinds = [k for (k,) in raw_rows(url, "SELECT kind FROM events WHERE run_id=? ORDER BY seq", (run_id,))]
    node_statuses = {s for (s,) in raw_rows(url, "SELECT status FROM nodes WHERE run_id=?", (run_id,))}
    assert type(status) is str and status == "done"  # plain text in the database, as before the enums
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and set(kinds) <= set(EventKind)
    assert node_statuses == {"done"}


def test_the_runs_filter_offers_every_status_a_run_can_have(engine):
    with start_ui(engine) as server:
        status, info = api(server, "GET", "api/info")
    assert status == 200 and info["statuses"] == list(RUN_STATUSES) == [s.value for s in RunStatus]
    assert "paused" in info["statuses"] and "unmet" in info["statuses"]


@both_backends
def test_a_run_its_loop_paused_is_listed_under_paused(engine):
    """The loop writes `paused` while a person holds the run; the runs list finds it under that status."""
    with start_ui(engine) as server:
        run_id = api(server, "POST", "api/runs", {"goal": "ten steps", "script": "slow"})[1]["run_id"]
        wait_for(lambda: engine.store.run(run_id)["status"] == "running", scaled(20), "the run to start")
        status, out = api(server, "POST", f"api/runs/{run_id}/pause", {})
        assert status == 200 and out["status"] == "requested"
        wait_for(lambda: engine.store.run(run_id)["status"] == "paused", scaled(20), "the loop to pause the run")
        status, listed = api(server, "GET", "api/runs?status=paused")
        assert status == 200 and [r["id"] for r in listed] == [run_id] and listed[0]["status"] == "paused"
        assert api(server, "GET", "api/runs?status=running")[1] == []
        api(server, "POST", f"api/runs/{run_id}/resume")
        wait_for(lambda: engine.store.run(run_id)["status"] == "done", scaled(30), "the resumed run to end")
        assert api(server, "GET", "api/runs?status=paused")[1] == []
