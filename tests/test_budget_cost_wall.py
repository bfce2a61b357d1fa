"""Budgets on money and time: a run that spends past max_cost_usd or runs past max_wall_s is stopped cleanly.

Tokens cost money only when [model].prices names the model; the scripted server echoes the
model name it was asked for, so pricing the configured name prices every scripted reply.
"""

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

# USD per 1M tokens: one cent a token, so 40 + 20 tokens cost $0.60.
CENT_A_TOKEN = {"input": 10_000.0, "output": 10_000.0}
USAGE = {"prompt_tokens": 40, "completion_tokens": 20}


def priced(engine):
    """Price the configured model before the first call builds the client."""
    engine.config.model.prices = {engine.config.model.model: CENT_A_TOKEN}
    return engine


def spender(ctx):
    if ctx.reports is None:
        questions = ["cheap and fast", "slow one", "slow two"]
        return ctx.spawn([ctx.child("ask_model", question=q) for q in questions])
    return "all answered"


# The slow replies take far longer than any run here: a run that waited for one would show it.
SPENDER_MODEL = [
    {"match": "fast", "reply": "spent", "usage": USAGE},
    {"match": "slow", "reply": "late", "delay_s": scaled(120), "repeat": True},
]


def slow_requests(server) -> list[dict]:
    return [r for r in server.requests if r["last_user"].startswith("slow")]


def unanswered(requests: list[dict]) -> bool:
    """Whether every one of these requests is still waiting for its reply."""
    return all(r["responded_at"] is None for r in requests)


def budget_stops(engine, run_id: str) -> list[str]:
    return [e["detail"]["reason"] for e in events(engine, run_id) if e["kind"] == "budget_stop"]


def test_a_priced_run_within_max_cost_usd_completes_and_records_what_it_spent(make_engine):
    engine = priced(make_engine(script("ask_model", ask_model), model=[{"reply": "cheap", "usage": USAGE}]))

    run_id, status = run(engine, "spend a little", "ask_model", data={"question": "q"}, budgets={"max_cost_usd": 1.0})

    assert status == "done"
    assert engine.store.run(run_id)["cost_usd"] == 0.6
    assert node_states(engine, run_id)["1"]["cost_usd"] == 0.6
    assert [c["cost_usd"] for c in engine.store.llm_calls(run_id)] == [0.6]
    assert budget_stops(engine, run_id) == []


def test_max_cost_usd_stops_the_run_and_cancels_the_nodes_still_running(make_engine, scripted_model):
    server = scripted_model(SPENDER_MODEL)
    engine = priced(make_engine(script("spender", spender), script("ask_model", ask_model), model=server))

    run_id, status = run(engine, "spend", "spender", budgets={"max_cost_usd": 0.5})

    assert unanswered(slow_requests(server))  # the slow children were not waited for
    assert status == "stopped"
    recorded = engine.store.run(run_id)
    assert (recorded["status"], recorded["stop_reason"]) == ("stopped", "budget: max_cost_usd=0.5 exceeded ($0.6000 spent)")
    assert recorded["cost_usd"] == 0.6
    assert budget_stops(engine, run_id) == [recorded["stop_reason"]]
    statuses = {i: n["status"] for i, n in node_states(engine, run_id).items()}
    assert statuses == {"1": "cancelled", "1.1": "done", "1.2": "cancelled", "1.3": "cancelled"}
    assert_all_final(engine, run_id)


def test_an_unpriced_model_never_reaches_max_cost_usd(make_engine):
    engine = make_engine(script("ask_model", ask_model), model=[{"reply": "free", "usage": {"prompt_tokens": 10**6, "completion_tokens": 10**6}}])

    run_id, status = run(engine, "spend nothing", "ask_model", data={"question": "q"}, budgets={"max_cost_usd": 0.0001})

    assert status == "done"
    assert engine.store.run(run_id)["cost_usd"] == 0


def test_max_wall_s_stops_a_run_whose_model_call_outlasts_it(make_engine, scripted_model):
    server = scripted_model(SPENDER_MODEL)
    engine = make_engine(script("spender", spender), script("ask_model", ask_model), model=server)
    budget = scaled(2.0)  # long enough for the fast child to finish first, on a busy machine too

    run_id, status = run(engine, "take too long", "spender", budgets={"max_wall_s": budget})

    assert unanswered(slow_requests(server))  # it stopped at the budget, not at the end of the slow calls
    assert status == "stopped"
    recorded = engine.store.run(run_id)
    assert (recorded["status"], recorded["stop_reason"]) == ("stopped", f"budget: max_wall_s={budget} reached")
    assert budget_stops(engine, run_id) == [f"budget: max_wall_s={budget} reached"]
    statuses = {i: n["status"] for i, n in node_states(engine, run_id).items()}
    assert statuses == {"1": "cancelled", "1.1": "done", "1.2": "cancelled", "1.3": "cancelled"}
    assert_all_final(engine, run_id)

