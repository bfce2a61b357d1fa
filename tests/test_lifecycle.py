"""The lifecycle of a run, spawn → execute → terminate, driven through the Engine against a scripted model.

Policies are in test_policies.py, budgets in test_budgets.py.
"""

from __future__ import annotations

import pytest

import asyncio
import threading

from lifecycle_support import (  # noqa: F401  (make_engine is a fixture)
    ask_model,
    assert_all_final,
    events,
    kinds,
    make_engine,
    node_states,
    result,
    run,
    scaled,
    script,
)
from swarm.config import DEMO_SCRIPT
from swarm.errors import SecondModelCall
from swarm.human import PreparedAnswers
from swarm.store import open_store

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL

# --- a leaf ---------------------------------------------------------------------------


def test_a_leaf_that_returns_a_value_ends_the_run_done_with_that_output(make_engine):
    engine = make_engine(script("ask_model", ask_model), model=[{"reply": "forty-two"}])

    run_id, status = run(engine, "answer", "ask_model", data={"question": "what is six times seven?"})

    assert status == "done"
    root = node_states(engine, run_id)["1"]
    assert (root["status"], root["output"], root["error"]) == ("done", "forty-two", None)
    assert result(engine, run_id) == "forty-two"
    assert engine.store.run(run_id)["status"] == "done"


def test_a_leaf_is_recorded_as_spawn_execute_execute_end_terminate(make_engine):
    engine = make_engine(script("ask_model", ask_model), model=[{"reply": "fine"}])

    run_id, _ = run(engine, "answer", "ask_model", data={"question": "how are you?"})

    assert kinds(engine, run_id, "1") == ["spawn", "execute", "execute_end", "terminate"]
    run_events = kinds(engine, run_id)
    assert run_events[0] == "run_start" and run_events[-1] == "run_end"


def test_the_tokens_of_the_model_call_are_accounted_on_the_node_and_on_the_run(make_engine):
    usage = {"prompt_tokens": 11, "completion_tokens": 7}
    engine = make_engine(script("ask_model", ask_model), model=[{"reply": "counted", "usage": usage}])

    run_id, _ = run(engine, "answer", "ask_model", data={"question": "count me"})

    root = node_states(engine, run_id)["1"]
    assert (root["prompt_tokens"], root["completion_tokens"]) == (11, 7)
    recorded = engine.store.run(run_id)
    assert (recorded["prompt_tokens"], recorded["completion_tokens"]) == (11, 7)
    assert [c["node_id"] for c in engine.store.llm_calls(run_id)] == ["1"]


# --- the rules a script must keep ----------------------------------------------------------


def chatty(ctx):
    ctx.llm("first question")
    ctx.llm("second question")
    return "never"


def test_a_second_model_call_in_one_execution_fails_the_node_with_SecondModelCall(make_engine, scripted_model):
    server = scripted_model([{"reply": "one answer", "repeat": True}])
    engine = make_engine(script("chatty", chatty), model=server, node_max_attempts=1)

    run_id, status = run(engine, "talk twice", "chatty")

    assert status == "failed"
    root = node_states(engine, run_id)["1"]
    assert root["status"] == "failed"
    assert root["error"] == f"SecondModelCall: {SecondModelCall('1', 'chatty')}"
    assert engine.store.run(run_id)["error"] == root["error"]
    assert len(server.requests) == 1  # the second call never reached the model


def flaky(ctx):
    raise RuntimeError(f"flaky on attempt {ctx.attempt}")


def test_a_raising_script_is_retried_up_to_node_max_attempts_then_fails(make_engine):
    engine = make_engine(script("flaky", flaky), node_max_attempts=3)

    run_id, status = run(engine, "try hard", "flaky")

    assert status == "failed"
    root = node_states(engine, run_id)["1"]
    assert (root["status"], root["attempts"]) == ("failed", 3)
    assert kinds(engine, run_id, "1") == [
        "spawn", "execute", "retry", "execute", "retry", "execute", "execute_end", "terminate",
    ]


def test_the_error_of_each_attempt_is_kept_in_the_node_and_the_history(make_engine):
    engine = make_engine(script("flaky", flaky), node_max_attempts=2)

    run_id, _ = run(engine, "try hard", "flaky")

    assert node_states(engine, run_id)["1"]["error"] == "RuntimeError: flaky on attempt 1"
    assert engine.store.run(run_id)["error"] == "RuntimeError: flaky on attempt 1"
    errors = [e["detail"]["error"] for e in events(engine, run_id, "1") if e["kind"] in ("retry", "execute_end")]
    assert errors == ["RuntimeError: flaky on attempt 0", "RuntimeError: flaky on attempt 1"]


def flaky_once(ctx):
    if ctx.attempt == 0:
        raise ConnectionError("the first try always fails")
    return "second try worked"


def test_a_script_that_fails_once_succeeds_on_its_retry(make_engine):
    engine = make_engine(script("flaky_once", flaky_once), node_max_attempts=2)

    run_id, status = run(engine, "try again", "flaky_once")

    assert status == "done"
    assert result(engine, run_id) == "second try worked"


def test_a_node_running_longer_than_node_timeout_s_fails_with_a_timeout_message(make_engine):
    release, finished = threading.Event(), threading.Event()

    def sleepy(ctx):  # runs until the test lets it go
        release.wait(scaled(60))
        finished.set()
        return "too late"

    engine = make_engine(script("sleepy", sleepy), node_timeout_s=0.2, node_max_attempts=1)

    try:
        run_id, status = run(engine, "sleep", "sleepy")
        assert not finished.is_set()  # the run did not wait for the script
    finally:
        release.set()
    assert status == "failed"
    root = node_states(engine, run_id)["1"]
    assert root["status"] == "failed"
    assert root["error"].startswith("NodeTimeout: node 1 ran longer than its timeout of 0.2s")


# --- what a script may spawn -----------------------------------------------------------------


def spawn_unknown(ctx):
    return ctx.spawn([ctx.child("no_such_script", goal="anything")])


def test_spawning_an_unknown_script_fails_the_parent_with_a_clear_message(make_engine):
    engine = make_engine(script("spawn_unknown", spawn_unknown), node_max_attempts=1)

    run_id, status = run(engine, "delegate", "spawn_unknown")

    assert status == "failed"
    nodes = node_states(engine, run_id)
    assert list(nodes) == ["1"]  # nothing was spawned
    error = nodes["1"]["error"]
    assert "unknown script 'no_such_script'" in error
    assert "spawn_unknown" in error.split("registered:")[1]  # it lists what is registered


def needs_number(ctx):
    return ctx.data["n"] * 2


def spawn_bad_input(ctx):
    return ctx.spawn([ctx.child("needs_number", n="three")])


def test_spawning_a_child_with_input_not_matching_its_schema_fails_the_parent(make_engine):
    number_schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    engine = make_engine(
        script("needs_number", needs_number, input_schema=number_schema),
        script("spawn_bad_input", spawn_bad_input),
        node_max_attempts=1,
    )

    run_id, status = run(engine, "delegate", "spawn_bad_input")

    assert status == "failed"
    nodes = node_states(engine, run_id)
    assert list(nodes) == ["1"]
    assert "input for child script 'needs_number' does not match its schema" in nodes["1"]["error"]
    assert "$.n: expected integer" in nodes["1"]["error"]
    from swarm.metrics import error_type

    assert error_type(nodes["1"]["error"]) == "ChildInputInvalid"  # how `swarm stats` groups it (not as "node")


# --- cancellation ---------------------------------------------------------------------------


def slow_fan(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_model", question=f"slow {i}") for i in range(3)])
    return "all answered"


def test_a_cancel_request_from_elsewhere_ends_the_run_cancelled_with_every_node_final(make_engine, tmp_path,
                                                                                     scripted_model):
    # The slow replies take far longer than the test: a run that waited for one would show it.
    server = scripted_model([{"match": "slow", "reply": "late", "delay_s": scaled(120), "repeat": True}])
    engine = make_engine(script("slow_fan", slow_fan), script("ask_model", ask_model), model=server)
    run_id = engine.create_run("wait a while", script="slow_fan")

    def cancel_from_another_connection() -> None:
        other = open_store(engine.config)  # another connection (SQLite) or session (PostgreSQL)
        other.request_cancel(run_id)
        other.close()

    timer = threading.Timer(0.3, cancel_from_another_connection)
    timer.start()
    status = asyncio.run(engine.drive(run_id))
    timer.join()

    assert all(r["responded_at"] is None for r in server.requests)  # it did not wait for the slow children
    assert status == "cancelled"
    recorded = engine.store.run(run_id)
    assert (recorded["status"], recorded["stop_reason"]) == ("cancelled", "cancelled by request")
    assert_all_final(engine, run_id)
    assert {n["status"] for n in node_states(engine, run_id).values()} == {"cancelled"}
    assert "run_cancel" in kinds(engine, run_id)


# --- asking a person ------------------------------------------------------------------------


def test_a_node_asking_a_person_gets_the_prepared_answer_and_finishes(make_engine):
    engine = make_engine(human=PreparedAnswers({"*": "yes"}))

    run_id, status = run(engine, "go ahead?", "ask_human", data={"question": "May I proceed?"})

    assert status == "done"
    assert result(engine, run_id) == {"question": "May I proceed?", "answer": "yes"}
    assert "approval_decided" in kinds(engine, run_id, "1")
    [approval] = engine.store.approvals(run_id, status=None)
    assert (approval["question"], approval["status"]) == ("May I proceed?", "approved")


def test_with_nobody_to_ask_the_run_pauses_awaiting_approval(make_engine):
    engine = make_engine(human=None)

    run_id, status = run(engine, "go ahead?", "ask_human", data={"question": "May I proceed?"})

    assert status == "awaiting_approval"
    assert engine.store.run(run_id)["status"] == "awaiting_approval"
    assert node_states(engine, run_id)["1"]["status"] == "awaiting_approval"
    [pending] = engine.store.approvals(run_id, status="pending")
    assert (pending["node_id"], pending["question"]) == ("1", "May I proceed?")


def test_a_paused_run_is_resumed_by_a_new_engine_that_has_the_answer(make_engine):
    first = make_engine(human=None)
    run_id, _ = run(first, "go ahead?", "ask_human", data={"question": "May I proceed?"})
    first.close()

    second = make_engine(human=PreparedAnswers({"*": "yes, go"}))
    status = asyncio.run(second.drive(run_id))

    assert status == "done"
    assert result(second, run_id) == {"question": "May I proceed?", "answer": "yes, go"}
    assert second.store.run(run_id)["status"] == "done"
    assert second.store.approvals(run_id, status="pending") == []



def consult(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_human", question="Which colour?")])
    return {"colour": ctx.reports[0].output["answer"]}


def test_a_child_waiting_for_a_person_pauses_the_run_and_its_answer_wakes_the_parent_on_resume(make_engine):
    first = make_engine(script("consult", consult), human=None)
    run_id, status = run(first, "pick a colour", "consult")
    assert status == "awaiting_approval"
    assert {i: n["status"] for i, n in node_states(first, run_id).items()} == {"1": "waiting", "1.1": "awaiting_approval"}
    first.close()

    second = make_engine(script("consult", consult), human=PreparedAnswers({"1.1": "blue"}))
    status = asyncio.run(second.drive(run_id))

    assert status == "done"
    assert result(second, run_id) == {"colour": "blue"}
    assert_all_final(second, run_id)

# --- the demo ---------------------------------------------------------------------------------


def test_the_demo_model_completes_a_broken_down_goal_with_an_answer(make_engine):
    engine = make_engine(model=f"scripted:{DEMO_SCRIPT}")

    run_id, status = run(engine, "Plan a team offsite", "break_down_goal")

    assert status == "done"
    answer = result(engine, run_id)
    assert isinstance(answer, dict)
    assert answer["answer"].startswith("Done: the key facts are gathered")
    assert answer["approved"] is True
    assert_all_final(engine, run_id)
    scripts = sorted(n["script"] for n in node_states(engine, run_id).values())
    assert scripts == sorted([
        "break_down_goal", "route", "route", "route", "write_text", "write_text",
        "write_python", "review",  # write_python runs its code in the sandbox itself
    ])
