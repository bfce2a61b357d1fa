"""solve writes several candidates at once for a goal that asks for a function with examples, and picks by
behaviour: the fewest failed examples first, then agreement with the other candidates on probe calls made
from the examples (swarm/probes.py, node_scripts/pick_by_behaviour.py)."""

# SQLite only: how samples are written and picked does not depend on the store (a store's side of runs is
# tested on both backends: test_lifecycle.py and the others).

from __future__ import annotations

import dataclasses
import json
import types

from lifecycle_support import make_engine, run  # noqa: F401
from swarm import probes
from swarm.partial import partial_answer
from swarm.node import Status, TaskNode

GOAL = '''def first_even(xs: list) -> int:
    """The first even number in xs, or -1 when there is none.
    >>> first_even([1, 4, 6])
    4
    """
'''
# Both pass the example; only RIGHT survives an input without an even number (a probe: first_even([]) ...).
RIGHT = "```python\ndef first_even(xs: list) -> int:\n    for x in xs:\n        if x % 2 == 0:\n            return x\n    return -1\n```"
WRONG_ELSEWHERE = "```python\ndef first_even(xs: list) -> int:\n    return [x for x in xs if x % 2 == 0][0]\n```"
WRONG_EXAMPLE = "```python\ndef first_even(xs: list) -> int:\n    return xs[0]\n```"


def result(engine, run_id):
    return json.loads(engine.store.run(run_id)["result"])


def scripts(engine, run_id):
    return [r["script"] for r in engine.store._query("SELECT script FROM nodes WHERE run_id=? ORDER BY id", (run_id,))]


def test_the_candidate_the_others_agree_with_wins_over_one_that_passes_the_example_but_breaks_elsewhere(make_engine):
    # Which sample gets which reply depends on scheduling; the majority wins either way.
    engine = make_engine(model=[{"reply": WRONG_ELSEWHERE}, {"reply": RIGHT, "repeat": True}], samples=3)
    run_id, status = run(engine, GOAL, "solve")

    assert status == "done"
    assert "return -1" in result(engine, run_id)["code"]
    assert scripts(engine, run_id) == ["solve", "solve", "solve", "solve", "pick_by_behaviour"]
    assert len(engine.store.llm_calls(run_id)) == 3  # the picker makes no model call


def test_a_candidate_that_passes_the_examples_beats_a_majority_that_fails_them(make_engine):
    engine = make_engine(model=[{"reply": RIGHT}, {"reply": WRONG_EXAMPLE, "repeat": True}], samples=3)
    run_id, status = run(engine, GOAL, "solve")

    assert status == "done" and "return -1" in result(engine, run_id)["code"]


def test_the_first_sample_is_written_at_the_configured_temperature_and_the_others_more_widely(make_engine, scripted_model):
    server = scripted_model([{"reply": RIGHT, "repeat": True}])
    engine = make_engine(model=server, samples=3)
    run_id, status = run(engine, GOAL, "solve")

    assert status == "done"
    assert sorted(r["temperature"] for r in server.requests) == sorted([engine.config.model.temperature, 0.8, 0.8])


def test_when_every_sample_fails_the_examples_the_best_one_goes_to_a_repair(make_engine):
    engine = make_engine(model=[{"match": "own examples show", "reply": RIGHT},
                                {"reply": WRONG_EXAMPLE, "repeat": True}], samples=2)
    run_id, status = run(engine, GOAL, "solve")

    assert status == "done" and "return -1" in result(engine, run_id)["code"]
    assert scripts(engine, run_id) == ["solve", "solve", "solve", "pick_by_behaviour", "solve"]
    repair = json.loads(engine.store.llm_calls(run_id)[-1]["request"])["messages"]
    assert "xs[0]" in repair[-2]["content"] and "first_even([1, 4, 6]) gave 1, but the task says 4" in repair[-1]["content"]


def test_a_goal_without_examples_gets_one_candidate(make_engine):
    goal = 'def first_even(xs: list) -> int:\n    """The first even number in xs, or -1 when there is none."""\n'
    engine = make_engine(model=[{"reply": RIGHT}], samples=4)
    run_id, status = run(engine, goal, "solve")

    assert status == "done" and scripts(engine, run_id) == ["solve"]
    assert len(engine.store.llm_calls(run_id)) == 1


def test_probe_calls_change_one_argument_of_an_example_at_a_time_in_a_fixed_order():
    goal = 'def take(xs: list, n: int) -> list:\n    """\n    >>> take([3, 1, 2], 2)\n    [3, 1]\n    """\n'
    calls = probes.probe_calls(goal)

    assert calls[0] == "take([3, 1, 2], 2)"  # the example itself first
    assert "take([], 2)" in calls and "take([3, 1, 2], 0)" in calls and "take([2, 1, 3], 2)" in calls
    assert len(calls) == len(set(calls)) <= probes.MOST
    assert probes.probe_calls(goal) == calls  # a replay probes the same


def test_probe_calls_need_an_example_with_literal_arguments():
    assert probes.probe_calls('def f(x):\n    """\n    >>> y = 3\n    >>> f(y)\n    4\n    """\n') == []
    assert probes.probe_calls('def f(x):\n    """Returns x + 1."""\n') == []


def test_agreement_counts_matching_probe_results_and_ties_go_to_the_preferred_candidate():
    chosen, scores = probes.agreement_pick([["1", "2"], ["1", "3"], ["1", "2"], None])
    assert (chosen, scores) == (0, [3, 2, 3, -1])
    assert probes.agreement_pick([["1"], ["2"]], prefer=1)[0] == 1


def test_a_run_stopped_during_its_samples_keeps_the_sample_failing_fewest_examples():
    root = TaskNode(id="1", run_id="r", script="solve", data={"goal": GOAL}, parent=None, depth=0)
    root.children = ["1.1", "1.2"]
    a = TaskNode(id="1.1", run_id="r", script="solve", data={"goal": GOAL, "sample": 0}, parent="1", depth=1)
    b = TaskNode(id="1.2", run_id="r", script="solve", data={"goal": GOAL, "sample": 1}, parent="1", depth=1)
    a.status, a.output = Status.DONE, {"sample": 0, "code": "def f(): pass", "answer": "def f(): pass", "wrong": 1,
                                       "error": "f() gave 1, but the task says 2"}
    b.status, b.output = Status.DONE, {"sample": 1, "code": "def g(): pass", "answer": "def g(): pass", "wrong": 0}

    kept = partial_answer({"1": root, "1.1": a, "1.2": b}, "1", "budget: max_wall_s")

    assert kept["code"] == "def g(): pass" and kept["approved"] is False
    assert kept["issues"] == ["budget: max_wall_s"] and kept["from_node"] == "1.2"


def test_a_probe_that_never_ends_costs_only_its_group_of_calls():
    # Seen on HumanEval/59: largest_prime_factor(0) loops for ever, so every candidate's one probe run timed
    # out and the picker knew nothing of any of them.
    from node_scripts import pick_by_behaviour as picker
    from swarm.config import load_config
    from swarm.sandbox import Sandbox

    cfg = load_config(env={})
    settings = dataclasses.replace(cfg.sandbox, timeout_s=2.0, cpu_s=2)
    code = "def parity(n):\n    while n > 1:\n        n -= 2\n    while n != 0:\n        n -= 1\n    return 'even'\n"
    calls = ["parity(0)", "parity(2)", "parity(4)", "parity(6)", "parity(8)", "parity(10)", "parity(-1)", "parity(12)"]
    with Sandbox(settings, cfg.python.authorized_imports, pool_size=1) as box:
        ctx = types.SimpleNamespace(run_python=lambda source: box.run(source))
        seen = picker.behaviour(ctx, code, calls)

    assert picker.GROUP == 6
    assert seen == ["'even'"] * 6 + [picker.UNFINISHED] * 2  # the first group's answers survive the second's loop
