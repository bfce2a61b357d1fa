"""Budgets: a run that would go past max_nodes, max_depth or max_tokens is stopped cleanly."""

from __future__ import annotations

import pytest

from lifecycle_support import (  # noqa: F401  (make_engine is a fixture)
    ask_model,
    assert_all_final,
    events,
    make_engine,
    node_states,
    run,
    scaled,
    script,
)

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


def tree(ctx):
    """Two children of itself per node, down to `levels`; leaves answer "leaf"."""
    if ctx.reports is None and ctx.depth < ctx.data["levels"]:
        return ctx.spawn([ctx.child("tree", levels=ctx.data["levels"]) for _ in range(2)])
    return "leaf" if ctx.reports is None else "branch"


def budget_stops(engine, run_id: str) -> list[str]:
    return [e["detail"]["reason"] for e in events(engine, run_id) if e["kind"] == "budget_stop"]


def test_a_tree_within_its_budgets_completes(make_engine):
    engine = make_engine(script("tree", tree))

    run_id, status = run(engine, "grow", "tree", data={"levels": 2}, budgets={"max_nodes": 7, "max_depth": 2})

    assert status == "done"
    assert len(node_states(engine, run_id)) == 7
    assert budget_stops(engine, run_id) == []


def test_max_nodes_stops_the_run_before_it_grows_past_the_budget(make_engine):
    engine = make_engine(script("tree", tree))

    run_id, status = run(engine, "grow", "tree", data={"levels": 3}, budgets={"max_nodes": 5})

    assert status == "stopped"
    recorded = engine.store.run(run_id)
    assert (recorded["status"], recorded["stop_reason"]) == ("stopped", "budget: max_nodes=5 reached")
    assert budget_stops(engine, run_id) == ["budget: max_nodes=5 reached"]
    assert len(node_states(engine, run_id)) <= 5
    assert_all_final(engine, run_id)


def test_max_depth_stops_the_run_before_a_node_deeper_than_the_budget(make_engine):
    engine = make_engine(script("tree", tree))

    run_id, status = run(engine, "grow", "tree", data={"levels": 5}, budgets={"max_depth": 2})

    assert status == "stopped"
    reason = engine.store.run(run_id)["stop_reason"]
    assert reason.startswith("budget: max_depth=2 reached at node 1.")
    assert budget_stops(engine, run_id) == [reason]
    assert max(n["depth"] for n in node_states(engine, run_id).values()) == 2
    assert_all_final(engine, run_id)


def spender(ctx):
    if ctx.reports is None:
        questions = ["cheap and fast", "slow one", "slow two"]
        return ctx.spawn([ctx.child("ask_model", question=q) for q in questions])
    return "all answered"


def test_max_tokens_stops_the_run_and_cancels_the_nodes_still_running(make_engine, scripted_model):
    server = scripted_model([
        {"match": "fast", "reply": "spent", "usage": {"prompt_tokens": 40, "completion_tokens": 20}},
        {"match": "slow", "reply": "late", "delay_s": scaled(120), "repeat": True},  # far longer than the test
    ])
    engine = make_engine(script("spender", spender), script("ask_model", ask_model), model=server)

    run_id, status = run(engine, "spend", "spender", budgets={"max_tokens": 50})

    slow = [r for r in server.requests if r["last_user"].startswith("slow")]
    assert all(r["responded_at"] is None for r in slow)  # the slow children were not waited for
    assert status == "stopped"
    recorded = engine.store.run(run_id)
    assert recorded["stop_reason"] == "budget: max_tokens=50 exceeded (60 used)"
    assert (recorded["prompt_tokens"], recorded["completion_tokens"]) == (40, 20)
    assert budget_stops(engine, run_id) == [recorded["stop_reason"]]
    statuses = {i: n["status"] for i, n in node_states(engine, run_id).items()}
    assert statuses == {"1": "cancelled", "1.1": "done", "1.2": "cancelled", "1.3": "cancelled"}
    assert_all_final(engine, run_id)
