"""Human approval in the lifecycle: requests, decisions (approve, edit, reject), timeouts, pauses and the policy.

In-process: the run is driven by an Engine with `wait_for_people` in a background thread,
decisions are written with the library (swarm/approvals.py) as another process would.
tests/test_approvals_cli.py does the same across real processes.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from lifecycle_support import (  # noqa: F401  (make_engine is a fixture)
    ask_model,
    assert_all_final,
    events,
    kinds,
    make_engine,
    node_states,
    result,
    run,
    script,
    wait_for,
)
from swarm import approvals
from swarm.errors import SwarmError
from swarm.human import PreparedAnswers

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


class Driver:
    """Drives runs of an engine in a background thread, as the daemon would: `wait_for_people` on."""

    def __init__(self, engine, *run_ids: str):
        engine.wait_for_people = True
        self.engine, self.statuses = engine, {}
        self.thread = threading.Thread(target=lambda: asyncio.run(self._drive(run_ids)), daemon=True)
        self.thread.start()

    async def _drive(self, run_ids):
        async def one(run_id):
            self.statuses[run_id] = await self.engine.drive(run_id)

        await asyncio.gather(*(one(r) for r in run_ids))

    def join(self, timeout: float = 20) -> dict[str, str]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the runs did not end"
        return self.statuses


def decided_events(engine, run_id):
    return [e["detail"] for e in events(engine, run_id) if e["kind"] == "approval_decided"]


# --- scripts of these tests ------------------------------------------------------------------------


def plan(ctx):
    """Three questions to people at once; the result says what each branch came to."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_human", question="Which city?", proposal="Lisbon"),
                          ctx.child("ask_human", question="How many days?", proposal="3 days"),
                          ctx.child("ask_human", question="What budget?")])
    return [r.output["answer"] if r.ok else r.error for r in ctx.reports]


def steps(ctx):
    """Four slow steps, one after another: room to pause between them."""
    if ctx.reports is None:
        return ctx.spawn([ctx.child("nap", n=i) for i in range(4)], policy="sequence")
    return [r.output for r in ctx.reports]


def nap(ctx):
    time.sleep(0.3)
    return ctx.data["n"]


def pending_count(engine, run_id, n):
    return len(approvals.pending(engine.store, run_id)) == n


# --- a run waiting for people ----------------------------------------------------------------------


def test_a_run_waiting_for_a_person_keeps_waiting_while_another_run_finishes(make_engine):
    engine = make_engine(script("ask_model", ask_model),
                         model=[{"match": "capital", "reply": "Paris", "delay_s": 0.3}])
    waiting = engine.create_run("go ahead?", script="ask_human", data={"question": "May I proceed?"})
    other = engine.create_run("capital", script="ask_model", data={"question": "capital of France?"})
    driver = Driver(engine, waiting, other)

    wait_for(lambda: driver.statuses.get(other))
    assert driver.statuses[other] == "done" and result(engine, other) == "Paris"
    assert waiting not in driver.statuses  # still open, held by its loop
    assert engine.store.run(waiting)["status"] == "awaiting_approval"
    [request] = approvals.pending(engine.store, waiting)

    approvals.decide(engine.store, request["id"], "approve", edited="yes, go", note="checked")

    assert driver.join()[waiting] == "done"
    assert result(engine, waiting) == {"question": "May I proceed?", "answer": "yes, go"}
    [decided] = decided_events(engine, waiting)
    assert decided == {"approval": request["id"], "kind": "ask_human", "decision": "approve", "by": "cli",
                       "edited": True, "note": "checked", "answer": "yes, go"}
    assert engine.store.approval(request["id"])["handled_at"] is not None


def test_approve_takes_the_proposal_edit_replaces_it_and_reject_ends_only_that_branch(make_engine):
    engine = make_engine(script("plan", plan))
    run_id = engine.create_run("plan a trip", script="plan")
    driver = Driver(engine, run_id)
    wait_for(lambda: pending_count(engine, run_id, 3))
    city, days, budget = approvals.pending(engine.store, run_id)
    assert [r["proposal"] for r in (city, days, budget)] == ["Lisbon", "3 days", None]

    approvals.decide(engine.store, city["id"], "approve")
    approvals.decide(engine.store, days["id"], "approve", edited="5 days")
    approvals.decide(engine.store, budget["id"], "reject", reason="not your business")

    assert driver.join()[run_id] == "done"
    assert result(engine, run_id) == ["Lisbon", "5 days", "rejected by a person: not your business"]
    nodes = node_states(engine, run_id)
    assert (nodes["1.3"]["status"], nodes["1.3"]["error"]) == ("failed", "rejected by a person: not your business")
    assert [(d["decision"], d["edited"]) for d in decided_events(engine, run_id)] == [
        ("approve", False), ("approve", True), ("reject", False)]
    assert decided_events(engine, run_id)[2]["reason"] == "not your business"
    assert_all_final(engine, run_id)


def test_a_decision_taken_while_nobody_drives_the_run_is_taken_on_resume(make_engine):
    engine = make_engine()
    run_id, status = run(engine, "go ahead?", "ask_human", data={"question": "May I proceed?", "proposal": "yes"})
    assert status == "awaiting_approval"
    [request] = approvals.pending(engine.store, run_id)

    approvals.decide(engine.store, request["id"], "approve")

    assert asyncio.run(engine.drive(run_id)) == "done"
    assert result(engine, run_id)["answer"] == "yes"
    assert "approval_decided" in kinds(engine, run_id, "1")


def test_deciding_twice_or_an_unknown_request_or_a_reject_without_reason_is_refused(make_engine):
    engine = make_engine()
    run_id, _ = run(engine, "go ahead?", "ask_human", data={"question": "May I proceed?"})
    [request] = approvals.pending(engine.store, run_id)

    with pytest.raises(SwarmError, match="needs a reason"):
        approvals.decide(engine.store, request["id"], "reject", reason=" ")
    approvals.decide(engine.store, request["id"], "reject", reason="no")
    with pytest.raises(approvals.AlreadyDecided, match="already rejected by cli"):
        approvals.decide(engine.store, request["id"], "approve")
    with pytest.raises(approvals.UnknownApproval, match="swarm approvals"):
        approvals.decide(engine.store, 999, "approve")


def test_an_unanswered_request_times_out_as_a_rejection(make_engine):
    engine = make_engine(script("plan", plan), settings={"SWARM_APPROVALS_TIMEOUT_S": "0.5"})
    run_id = engine.create_run("plan a trip", script="plan")

    statuses = Driver(engine, run_id).join()

    assert statuses[run_id] == "done"
    assert result(engine, run_id) == ["no person decided in time: timed out"] * 3
    assert [d["reason"] for d in decided_events(engine, run_id)] == ["timed out"] * 3
    assert {r["status"] for r in engine.store.approvals(run_id, status=None)} == {"rejected"}


def test_a_cancelled_run_closes_its_open_requests(make_engine):
    engine = make_engine()
    run_id, _ = run(engine, "go ahead?", "ask_human", data={"question": "May I proceed?"})
    assert engine.cancel(run_id) == "cancelled"
    assert approvals.pending(engine.store, run_id) == []
    assert engine.store.approvals(run_id, status=None)[0]["status"] == "cancelled"


# --- pause and resume a whole run ------------------------------------------------------------------


def test_pause_holds_new_nodes_of_a_driven_run_until_it_is_resumed(make_engine):
    engine = make_engine(script("steps", steps), script("nap", nap))
    run_id = engine.create_run("four steps", script="steps")
    driver = Driver(engine, run_id)
    wait_for(lambda: "1.1" in node_states(engine, run_id))

    assert approvals.pause(engine.store, run_id)["status"] == "requested"  # this process drives it...
    wait_for(lambda: engine.store.run(run_id)["status"] == "paused")
    time.sleep(1.0)  # ...and starts nothing new meanwhile
    started = [n for n in node_states(engine, run_id) if n.startswith("1.")]
    assert len(started) <= 2, started
    assert run_id not in driver.statuses

    approvals.resume_paused(engine.store, run_id)

    assert driver.join()[run_id] == "done"
    assert result(engine, run_id) == [0, 1, 2, 3]
    assert {"paused", "unpaused"} <= set(kinds(engine, run_id))


def test_a_foreground_run_paused_from_elsewhere_stops_and_resumes_later(make_engine):
    engine = make_engine(script("steps", steps), script("nap", nap))
    run_id = engine.create_run("four steps", script="steps")
    approvals.pause(engine.store, run_id)  # before anyone drives it: it is marked paused at once
    assert engine.store.run(run_id)["status"] == "paused"

    assert asyncio.run(engine.drive(run_id)) == "paused"
    assert set(node_states(engine, run_id)) == {"1"}  # nothing started

    assert approvals.resume_paused(engine.store, run_id)["status"] == "unpaused"
    assert asyncio.run(engine.drive(run_id)) == "done"


# --- the policy ------------------------------------------------------------------------------------


def test_a_non_default_import_waits_for_a_person_and_runs_once_approved(make_engine):
    engine = make_engine(node_max_attempts=1, settings={"SWARM_APPROVALS_NON_DEFAULT_IMPORTS": "true"})
    code = "import os\nos.sep"
    run_id, status = run(engine, "Where am I?", "run_python", data={"code": code})
    assert status == "awaiting_approval"
    [request] = approvals.pending(engine.store, run_id)
    assert (request["kind"], request["proposal"]) == ("import", {"code": code, "imports": ["os"], "writes": []})

    approvals.decide(engine.store, request["id"], "approve", edited={**request["proposal"], "code": "import os\nos.sep * 2"})

    assert asyncio.run(engine.drive(run_id)) == "done"
    assert result(engine, run_id)["result"] == "//"  # the edited code ran


def test_without_the_policy_a_non_default_import_is_refused_as_before(make_engine):
    engine = make_engine(node_max_attempts=1)
    run_id, status = run(engine, "Where am I?", "run_python", data={"code": "import os\nos.sep"})
    assert status == "failed"
    assert approvals.pending(engine.store, run_id) == []


ACT_WRITES = {"match": "^Do this", "reply": "```python\nwrite_file('notes.txt', 'hello')\n'written'\n```"}


def test_sandboxed_code_that_writes_waits_for_a_person_and_its_model_call_is_replayed(make_engine, scripted_model):
    server = scripted_model([ACT_WRITES])  # one reply: a second model call would find none
    engine = make_engine(model=server, settings={"SWARM_APPROVALS_SANDBOX_WRITES": "true"})
    run_id, status = run(engine, "write hello into notes.txt", "act")
    assert status == "awaiting_approval"
    [request] = approvals.pending(engine.store, run_id)
    assert request["kind"] == "sandbox_write" and request["proposal"]["writes"] == ["write_file"]
    workspace = engine.workspaces_dir / run_id
    assert not (workspace / "notes.txt").exists()

    approvals.decide(engine.store, request["id"], "approve")

    assert asyncio.run(engine.drive(run_id)) == "done"
    assert (workspace / "notes.txt").read_text() == "hello"
    assert len(engine.store.llm_calls(run_id)) == 1  # the re-execution replayed the recorded reply


def test_with_sandbox_writes_code_that_only_reads_runs_without_asking(make_engine):
    engine = make_engine(node_max_attempts=1, settings={"SWARM_APPROVALS_SANDBOX_WRITES": "true"})
    run_id, status = run(engine, "look", "run_python", data={"code": "len(list_files())"})
    assert status == "done" and result(engine, run_id)["result"] == 0
    assert engine.store.approvals(run_id, status=None) == []


def test_a_direct_write_tool_call_rejected_writes_nothing(make_engine):
    engine = make_engine(model=[{"match": "^Do this", "reply": '{"tool": "write_file", "args": {"path": "a.txt", "text": "x"}}'}],
                         human=PreparedAnswers({"*": "no: keep the workspace clean"}),
                         settings={"SWARM_APPROVALS_SANDBOX_WRITES": "true"})
    run_id, status = run(engine, "write a.txt", "act")
    assert status == "failed"
    assert node_states(engine, run_id)["1"]["error"] == "rejected by a person: no: keep the workspace clean"
    assert not (engine.workspaces_dir / run_id / "a.txt").exists()
    [decided] = decided_events(engine, run_id)
    assert (decided["decision"], decided["by"]) == ("reject", "--answer")


def test_spending_past_the_threshold_waits_for_a_person_before_the_next_node(make_engine):
    usage = {"prompt_tokens": 40, "completion_tokens": 20}  # $0.60 a call at a cent a token
    engine = make_engine(script("ask_model", ask_model), script("steps", _ask_three),
                         model=[{"reply": "ok", "usage": usage, "repeat": True}],
                         settings={"SWARM_APPROVALS_COST_OVER_USD": "1.0"})
    engine.config.model.prices = {engine.config.model.model: {"input": 10_000.0, "output": 10_000.0}}
    run_id, status = run(engine, "three calls", "steps")
    assert status == "awaiting_approval"  # two calls ($1.20) passed $1.00: the third waits
    [request] = approvals.pending(engine.store, run_id)
    assert request["kind"] == "cost" and request["proposal"]["allow_up_to_usd"] == pytest.approx(2.2)
    assert node_states(engine, run_id)["1.3"]["status"] == "awaiting_approval"

    approvals.decide(engine.store, request["id"], "approve")

    assert asyncio.run(engine.drive(run_id)) == "done"
    assert engine.store.run(run_id)["cost_usd"] == pytest.approx(1.8)


def test_rejecting_more_spending_stops_the_run(make_engine):
    engine = make_engine(script("ask_model", ask_model), script("steps", _ask_three),
                         model=[{"reply": "ok", "usage": {"prompt_tokens": 40, "completion_tokens": 20}, "repeat": True}],
                         human=PreparedAnswers({"*": "too expensive"}), settings={"SWARM_APPROVALS_COST_OVER_USD": "1.0"})
    engine.config.model.prices = {engine.config.model.model: {"input": 10_000.0, "output": 10_000.0}}
    run_id, status = run(engine, "three calls", "steps")
    assert status == "stopped"
    assert engine.store.run(run_id)["stop_reason"] == "rejected by a person: spending past $1 (too expensive)"
    assert_all_final(engine, run_id)


def _ask_three(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_model", question=f"q{i}") for i in range(3)], policy="sequence")
    return "done"


def test_a_new_script_waits_for_a_person_who_may_edit_its_code(make_engine, tmp_path: Path):
    proposal = {"name": "shout", "kind": "tool", "description": "Upper-case a text.",
                "arguments": {"type": "object"}, "code": "def shout(text):\n    return text.upper()\n",
                "tests": [{"input": {"text": "hi"}, "expected": "HI"}]}
    engine = make_engine(model=[{"match": "^Write a new swarm", "reply": proposal}],
                         settings={"SWARM_APPROVALS_NEW_SCRIPTS": "true"})
    run_id, status = run(engine, "make a shouting tool", "make_tool")
    assert status == "awaiting_approval"
    [request] = approvals.pending(engine.store, run_id)
    assert request["kind"] == "new_script" and request["proposal"]["tests"] == proposal["tests"]
    assert "shout" not in engine.catalogue.tools

    edited_code = "def shout(text):\n    return str(text).upper()  # edited\n"
    approvals.decide(engine.store, request["id"], "approve", edited=approvals.edited_proposal(request, edited_code))

    assert asyncio.run(engine.drive(run_id)) == "done"
    assert engine.toolsmith.library.get("shout").code == edited_code  # tested again, then registered
    assert engine.catalogue.tools["shout"](text="hey") == "HEY"
    assert len(engine.store.llm_calls(run_id)) == 1


def test_an_edited_new_script_that_fails_its_tests_is_not_registered(make_engine):
    proposal = {"name": "shout", "kind": "tool", "description": "Upper-case a text.",
                "code": "def shout(text):\n    return text.upper()\n", "tests": [{"input": {"text": "hi"}, "expected": "HI"}]}
    engine = make_engine(model=[{"match": "^Write a new swarm", "reply": proposal}], node_max_attempts=1,
                         settings={"SWARM_APPROVALS_NEW_SCRIPTS": "true"})
    run_id, _ = run(engine, "make a shouting tool", "make_tool")
    [request] = approvals.pending(engine.store, run_id)
    approvals.decide(engine.store, request["id"], "approve",
                     edited=approvals.edited_proposal(request, "def shout(text):\n    return text\n"))

    assert asyncio.run(engine.drive(run_id)) == "failed"
    assert "the edited version of 'shout' fails its tests" in node_states(engine, run_id)["1"]["error"]
    assert "shout" not in engine.catalogue.tools


def test_ask_human_cannot_be_switched_off():
    from swarm.config import load_config
    from swarm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[approvals\].ask_human cannot be false"):
        load_config(env={"SWARM_APPROVALS_ASK_HUMAN": "false"})
