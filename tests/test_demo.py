"""The scripted demo works for any goal text: three parallel sub-goals, one writes and runs Python, then review."""

from __future__ import annotations

import json

import pytest

from lifecycle_support import make_engine, run  # noqa: F401
from swarm.config import DEMO_SCRIPT

pytestmark = pytest.mark.usefixtures("store_url")  # every goal on SQLite and on PostgreSQL


@pytest.mark.parametrize("goal", [
    "Plan a three-day trip to Lisbon",
    "Compute (a+b)*c? [fast] — with ünïcödé and $pecial ^chars.*",
    "x",
])
def test_the_demo_finishes_any_goal_with_the_same_shape(make_engine, goal):
    engine = make_engine(model=f"scripted:{DEMO_SCRIPT}")
    run_id, status = run(engine, goal, "break_down_goal")
    assert status == "done"
    nodes = {n["id"]: n for n in engine.store._query("SELECT id, script, status FROM nodes WHERE run_id=?", (run_id,))}
    assert {n["script"] for n in nodes.values()} == {
        "break_down_goal", "route", "write_text", "write_python", "review"}  # write_python runs its code itself
    assert all(n["status"] == "done" for n in nodes.values())
    result = json.loads(engine.store.run(run_id)["result"])
    assert result["approved"] is True and "305" in result["answer"]
