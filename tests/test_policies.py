"""Child policies: all, sequence, first and best_of_n, as a parent sees them through ctx.reports."""

from __future__ import annotations

import threading

import pytest

from lifecycle_support import (  # noqa: F401  (make_engine is a fixture)
    ask_model,
    assert_all_final,
    events,
    first_at,
    kinds,
    make_engine,
    node_states,
    result,
    run,
    scaled,
    script,
)

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


def summary(ctx):
    """What a parent returns once its children reported: [node, status, output or error] each."""
    return [[r.node_id, r.status, r.output if r.ok else r.error] for r in ctx.reports]


# --- all ------------------------------------------------------------------------------------


def fan_out(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child(ctx.data.get("child", "ask_model"), question=f"part {i}") for i in range(1, 5)],
                         policy="all")
    return summary(ctx)


def test_all_runs_the_children_concurrently(make_engine):
    # Each child waits for all four to be executing before it asks the model: run one after another,
    # they would never meet, and each would fail on the broken barrier.
    meeting = threading.Barrier(4, timeout=scaled(30))

    def meet_then_ask(ctx):
        meeting.wait()
        return ask_model(ctx)

    lines = [{"match": f"part {i}$", "reply": f"answer {i}"} for i in range(1, 5)]
    engine = make_engine(script("fan_out", fan_out), script("meet_then_ask", meet_then_ask), model=lines)

    run_id, status = run(engine, "four questions", "fan_out", data={"child": "meet_then_ask"})

    assert status == "done"
    assert result(engine, run_id) == [[f"1.{i}", "done", f"answer {i}"] for i in range(1, 5)]
    # As the store recorded it: the four executions were under way at one moment.
    children = ["1.1", "1.2", "1.3", "1.4"]
    last_start = max(first_at(engine, run_id, "execute", c) for c in children)
    first_end = min(first_at(engine, run_id, "execute_end", c) for c in children)
    assert last_start < first_end


def test_all_executes_the_parent_again_with_every_report_in_spawn_order(make_engine):
    # Replies arrive in reverse order; the reports still follow the order of spawning.
    lines = [{"match": f"part {i}$", "reply": f"answer {i}", "delay_s": 0.05 * (5 - i)} for i in range(1, 5)]
    engine = make_engine(script("fan_out", fan_out), script("ask_model", ask_model), model=lines)

    run_id, _ = run(engine, "four questions", "fan_out")

    assert result(engine, run_id) == [[f"1.{i}", "done", f"answer {i}"] for i in range(1, 5)]
    assert kinds(engine, run_id, "1") == ["spawn", "execute", "execute_end", "wake", "execute", "execute_end", "terminate"]
    assert node_states(engine, run_id)["1"]["round"] == 1


# --- sequence -------------------------------------------------------------------------------


def step(ctx):
    if ctx.data.get("fail"):
        raise ValueError(f"step {ctx.data['n']} cannot go on")
    return {"n": ctx.data["n"], "saw": [p.output["n"] if p.ok else p.error for p in ctx.previous]}


def pipeline(ctx):
    if ctx.reports is None:
        steps = [ctx.child("step", n=n, fail=n in ctx.data.get("failing", [])) for n in (1, 2, 3)]
        return ctx.spawn(steps, policy="sequence")
    return summary(ctx)


def test_sequence_spawns_each_child_after_the_previous_one_terminated(make_engine):
    engine = make_engine(script("pipeline", pipeline), script("step", step))

    run_id, status = run(engine, "three steps", "pipeline")

    assert status == "done"
    history = [(e["kind"], e["node_id"]) for e in events(engine, run_id) if e["kind"] in ("spawn", "terminate")]
    assert history == [
        ("spawn", "1"),
        ("spawn", "1.1"), ("terminate", "1.1"),
        ("spawn", "1.2"), ("terminate", "1.2"),
        ("spawn", "1.3"), ("terminate", "1.3"),
        ("terminate", "1"),
    ]


def test_sequence_shows_each_child_the_earlier_results_in_ctx_previous(make_engine):
    engine = make_engine(script("pipeline", pipeline), script("step", step))

    run_id, _ = run(engine, "three steps", "pipeline")

    assert result(engine, run_id) == [
        ["1.1", "done", {"n": 1, "saw": []}],
        ["1.2", "done", {"n": 2, "saw": [1]}],
        ["1.3", "done", {"n": 3, "saw": [1, 2]}],
    ]


def test_a_failing_step_does_not_end_the_sequence_the_next_step_sees_its_error(make_engine):
    engine = make_engine(script("pipeline", pipeline), script("step", step), node_max_attempts=1)

    run_id, status = run(engine, "three steps", "pipeline", data={"failing": [2]})

    assert status == "done"
    assert result(engine, run_id) == [
        ["1.1", "done", {"n": 1, "saw": []}],
        ["1.2", "failed", "ValueError: step 2 cannot go on"],
        ["1.3", "done", {"n": 3, "saw": [1, "ValueError: step 2 cannot go on"]}],
    ]
    assert node_states(engine, run_id)["1"]["planned"] == []


# --- first ----------------------------------------------------------------------------------


def race(ctx):
    if ctx.reports is None:
        questions = ctx.data.get("questions") or ["slow one", "fast", "slow two"]
        return ctx.spawn([ctx.child("ask_model", question=q) for q in questions], policy="first")
    return summary(ctx)


# The slow replies take far longer than any run here: a run that waited for one would show it.
RACE_MODEL = [
    {"match": "fast", "reply": "quick", "delay_s": 0.05},
    {"match": "slow", "reply": "late", "delay_s": scaled(120), "repeat": True},
]


def test_first_lets_the_first_success_win_and_cancels_the_slower_siblings(make_engine, scripted_model):
    server = scripted_model(RACE_MODEL)
    engine = make_engine(script("race", race), script("ask_model", ask_model), model=server)

    run_id, status = run(engine, "race", "race")

    slow = [r for r in server.requests if r["last_user"].startswith("slow")]
    assert all(r["responded_at"] is None for r in slow), slow  # nobody waited for the slow ones
    assert status == "done"
    nodes = node_states(engine, run_id)
    assert {i: nodes[i]["status"] for i in ("1.1", "1.2", "1.3")} == {"1.1": "cancelled", "1.2": "done", "1.3": "cancelled"}
    assert nodes["1.1"]["error"] == "sibling 1.2 succeeded first"
    assert result(engine, run_id) == [
        ["1.1", "cancelled", "sibling 1.2 succeeded first"],
        ["1.2", "done", "quick"],
        ["1.3", "cancelled", "sibling 1.2 succeeded first"],
    ]
    assert_all_final(engine, run_id)


def test_first_wakes_the_parent_once_when_the_winner_cancels_the_rest(make_engine):
    engine = make_engine(script("race", race), script("ask_model", ask_model), model=RACE_MODEL)

    run_id, _ = run(engine, "race", "race")

    assert kinds(engine, run_id, "1").count("wake") == 1
    assert node_states(engine, run_id)["1"]["round"] == 1


def hopeless(ctx):
    raise LookupError(f"{ctx.data['name']} found nothing")


def search_everywhere(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("hopeless", name=n) for n in ("a", "b", "c")], policy="first")
    return summary(ctx)


def test_first_with_every_child_failing_gives_the_parent_all_the_failures(make_engine):
    engine = make_engine(script("search_everywhere", search_everywhere), script("hopeless", hopeless), node_max_attempts=1)

    run_id, status = run(engine, "search", "search_everywhere")

    assert status == "done"
    assert result(engine, run_id) == [
        ["1.1", "failed", "LookupError: a found nothing"],
        ["1.2", "failed", "LookupError: b found nothing"],
        ["1.3", "failed", "LookupError: c found nothing"],
    ]


# --- best_of_n ------------------------------------------------------------------------------


def contest(ctx):
    if ctx.reports is None:
        candidates = [ctx.child("ask_model", question=f"candidate {i}") for i in range(3)]
        return ctx.spawn(candidates, policy="best_of_n", evaluator=ctx.data.get("evaluator", "review"))
    return summary(ctx)


CONTEST_MODEL = [
    *({"match": f"^candidate {i}$", "reply": f"draft {i}"} for i in range(3)),
    {"match": "^Pick the best candidate", "reply": {"best": 1, "reason": "clearest"}},
]


def test_best_of_n_runs_every_candidate_before_the_review_picks(make_engine):
    engine = make_engine(script("contest", contest), script("ask_model", ask_model), model=CONTEST_MODEL)

    run_id, status = run(engine, "write a slogan", "contest")

    assert status == "done"
    nodes = node_states(engine, run_id)
    assert [nodes[c]["status"] for c in ("1.1", "1.2", "1.3")] == ["done", "done", "done"]
    evaluator = nodes["1.4"]
    assert (evaluator["script"], evaluator["status"], evaluator["output"]) == ("review", "done", {"best": 1, "reason": "clearest"})
    assert [c["output"] for c in evaluator["data"]["candidates"]] == ["draft 0", "draft 1", "draft 2"]
    spawned_at = first_at(engine, run_id, "spawn", "1.4")
    assert all(first_at(engine, run_id, "terminate", c) <= spawned_at for c in ("1.1", "1.2", "1.3"))


def test_best_of_n_gives_the_parent_exactly_the_chosen_candidate(make_engine):
    engine = make_engine(script("contest", contest), script("ask_model", ask_model), model=CONTEST_MODEL)

    run_id, _ = run(engine, "write a slogan", "contest")

    assert result(engine, run_id) == [["1.2", "done", "draft 1"]]


def judge(ctx):
    return {"best": 2, "reason": "the judge likes the last one"}


def test_best_of_n_uses_the_evaluator_the_parent_named(make_engine):
    engine = make_engine(
        script("contest", contest), script("ask_model", ask_model), script("judge", judge), model=CONTEST_MODEL
    )

    run_id, status = run(engine, "write a slogan", "contest", data={"evaluator": "judge"})

    assert status == "done"
    assert node_states(engine, run_id)["1.4"]["script"] == "judge"
    assert result(engine, run_id) == [["1.3", "done", "draft 2"]]
