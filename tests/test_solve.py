"""solve, the default root: a goal answered or computed in one model call, code repaired from its error,
and the answer is what the code printed (issue 11: failures 6, 7, 11 and 12, replayed from the real
model's replies)."""

# SQLite only: the prompts and repairs of solve do not depend on the store (a store's side of runs is tested on
# both backends: test_lifecycle.py and the others).

from __future__ import annotations

import json

from lifecycle_support import make_engine, run  # noqa: F401
from swarm.config import DEMO_SCRIPT, load_config

# What Qwen2.5-Coder-1.5B answered to "Reverse the string 'swarm daemon'.": code that raises, then a
# made-up answer after it.
BROKEN = "Code:\n```python\nprint('daemon swarm'.reverse())\n```\nAnswer:\n\"mraewds\""
FIXED = "```python\nprint('swarm daemon'[::-1])\n```"


def result(engine, run_id):
    return json.loads(engine.store.run(run_id)["result"])


def nodes(engine, run_id):
    return engine.store._query("SELECT id, script, status FROM nodes WHERE run_id=? ORDER BY id", (run_id,))


def test_the_default_root_of_a_run_is_solve():
    assert load_config(env={}).run.root_script == "solve"


def test_a_fact_is_answered_in_one_call_by_the_root_itself(make_engine):
    engine = make_engine(model=[{"reply": "Answer: Tokyo"}])
    run_id, status = run(engine, "What is the capital of Japan?", "solve")

    assert status == "done"
    assert result(engine, run_id) == {"answer": "Tokyo"}
    assert [n["script"] for n in nodes(engine, run_id)] == ["solve"]
    assert len(engine.store.llm_calls(run_id)) == 1


def test_the_answer_of_code_is_what_it_printed_not_what_the_model_claimed(make_engine):
    reply = "```python\nimport hashlib\nprint(hashlib.sha256(b'hello').hexdigest())\n```\nAnswer: 42"
    engine = make_engine(model=[{"reply": reply}])
    run_id, status = run(engine, "What is the SHA-256 hex digest of the string 'hello'?", "solve")

    assert status == "done"
    out = result(engine, run_id)
    assert out["answer"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert "hashlib" in out["code"]


def test_code_that_prints_nothing_answers_with_its_last_value(make_engine):
    engine = make_engine(model=[{"reply": "```python\nsum(range(1, 11))\n```"}])
    run_id, status = run(engine, "Add the numbers from 1 to 10.", "solve")

    assert status == "done" and result(engine, run_id)["answer"] == "55"


def test_a_function_the_goal_asks_for_is_its_own_answer(make_engine):
    code = "def add(a, b):\n    return a + b"
    engine = make_engine(model=[{"reply": f"```python\n{code}\n```"}])
    run_id, status = run(engine, "def add(a, b):\n    \"\"\"Return a + b.\"\"\"", "solve")

    assert status == "done" and result(engine, run_id)["answer"].strip() == code


def test_failing_code_goes_back_to_the_model_with_its_error_and_the_fix_is_the_roots_answer(make_engine):
    engine = make_engine(model=[{"reply": BROKEN}, {"match": "^Your code failed", "reply": FIXED}])
    run_id, status = run(engine, "Reverse the string 'swarm daemon'.", "solve")

    assert status == "done"
    assert result(engine, run_id)["answer"] == "nomead mraws"
    assert [(n["id"], n["script"], n["status"]) for n in nodes(engine, run_id)] == [
        ("1", "solve", "done"), ("1.1", "solve", "done")]
    repair = engine.store.llm_calls(run_id)[1]
    asked = json.loads(repair["request"])["messages"]
    assert "reverse" in asked[2]["content"]            # the failed code, as the model's own turn
    assert "AttributeError" in asked[3]["content"] or "reverse" in asked[3]["content"]  # and what went wrong


def test_a_repair_is_never_the_same_prompt_again(make_engine):
    engine = make_engine(model=[{"reply": BROKEN}, {"match": "^Your code failed", "reply": BROKEN, "repeat": True}],
                         max_repairs=2)
    run_id, status = run(engine, "Reverse the string 'swarm daemon'.", "solve")

    assert status == "failed"
    calls = engine.store.llm_calls(run_id)
    assert len(calls) == 3  # the first try and two repairs, then the node fails with the last error
    assert len({c["request"] for c in calls}) <= 3
    root = json.loads(engine.store._query("SELECT state FROM nodes WHERE run_id=? AND id='1'", (run_id,))[0]["state"])
    assert "still failed after its repairs" in root["error"] and "reverse" in root["error"]


def test_code_that_prints_nothing_and_has_no_value_is_sent_back(make_engine):
    engine = make_engine(model=[{"reply": "```python\nx = 6 * 7\n```"},
                                {"match": "printed nothing", "reply": "```python\nprint(6 * 7)\n```"}])
    run_id, status = run(engine, "What is 6 times 7?", "solve")

    assert status == "done" and result(engine, run_id)["answer"] == "42"


def test_the_demo_with_the_default_root_says_it_is_the_scripted_demo(make_engine):
    engine = make_engine(model=f"scripted:{DEMO_SCRIPT}", root_script="solve")
    run_id, status = asyncio_run(engine, "Plan a three-day trip to Lisbon")

    assert status == "done"
    assert "Scripted demo answer" in result(engine, run_id)["answer"]


def asyncio_run(engine, goal):
    import asyncio

    return asyncio.run(engine.run(goal))


def test_a_reply_that_copies_the_instruction_instead_of_answering_is_sent_back(make_engine):
    # What Qwen2.5-Coder-0.5B replied to the Fibonacci goal: the prompt's own option line.
    copied = "<the answer> — only for facts you know for sure or for prose, with nothing to compute."
    engine = make_engine(model=[{"reply": copied},
                                {"match": "neither code nor an answer", "reply": "```python\nprint(832040)\n```"}])
    run_id, status = run(engine, "What is the 30th Fibonacci number, counting F(1) = F(2) = 1?", "solve")

    assert status == "done" and result(engine, run_id)["answer"] == "832040"
    asked = json.loads(engine.store.llm_calls(run_id)[1]["request"])["messages"]
    assert asked[2] == {"role": "assistant", "content": copied}


STUB = '''def add_one(xs: list) -> list:
    """ Add one to every number.
    >>> add_one([1, 2])
    [2, 3]
    >>> add_one([])
    []
    """
'''


def test_a_function_that_fails_the_goals_own_examples_goes_back_with_the_mismatch(make_engine):
    wrong = "```python\ndef add_one(xs: list) -> list:\n    return [x + 2 for x in xs]\n```"
    right = "```python\ndef add_one(xs: list) -> list:\n    return [x + 1 for x in xs]\n```"
    engine = make_engine(model=[{"reply": wrong}, {"match": "own examples show", "reply": right}], samples=1)
    run_id, status = run(engine, STUB, "solve")

    assert status == "done"
    assert "x + 1" in result(engine, run_id)["code"]
    feedback = json.loads(engine.store.llm_calls(run_id)[1]["request"])["messages"][-1]["content"]
    assert "add_one([1, 2]) gave [3, 4], but the task says [2, 3]" in feedback
    assert "add_one([])" not in feedback  # the example it gets right is not mentioned


def test_a_function_that_passes_the_goals_examples_costs_one_call(make_engine):
    right = "```python\ndef add_one(xs: list) -> list:\n    return [x + 1 for x in xs]\n```"
    engine = make_engine(model=[{"reply": right}], samples=1)
    run_id, status = run(engine, STUB, "solve")

    assert status == "done" and len(engine.store.llm_calls(run_id)) == 1


def test_a_repair_that_drops_the_function_the_goal_asks_for_is_sent_back(make_engine):
    # Seen with the 1.5B model on a HumanEval task: the repair printed an example's result instead.
    engine = make_engine(model=[
        {"reply": "```python\nprint(sorted([2, 1]))\n```"},
        {"match": "must define add_one", "reply": "```python\ndef add_one(xs: list) -> list:\n    return [x + 1 for x in xs]\n```"},
    ])
    run_id, status = run(engine, STUB, "solve")

    assert status == "done" and "def add_one" in result(engine, run_id)["code"]


def test_code_that_still_fails_the_goals_examples_after_its_repairs_ends_unmet_with_it(make_engine):
    wrong = "```python\ndef add_one(xs: list) -> list:\n    return [x + 2 for x in xs]\n```"
    engine = make_engine(model=[{"reply": wrong, "repeat": True}], max_repairs=1)
    run_id, status = run(engine, STUB, "solve")

    assert status == "unmet"  # an answer that runs but fails the goal's own examples: kept, not called done
    out = result(engine, run_id)
    assert "x + 2" in out["code"] and out["approved"] is False
    assert "add_one([1, 2]) gave [3, 4]" in out["issues"][0]


def test_a_goal_that_declares_a_function_gets_the_prompt_for_code_not_for_a_printed_answer(make_engine):
    right = "```python\ndef add_one(xs: list) -> list:\n    return [x + 1 for x in xs]\n```"
    engine = make_engine(model=[{"reply": right}])
    run_id, status = run(engine, STUB, "solve")

    assert status == "done"
    system = json.loads(engine.store.llm_calls(run_id)[0]["request"])["messages"][0]["content"]
    assert system.startswith("Write the code the task asks for") and "prints" not in system


def test_a_repair_that_still_fails_the_examples_is_followed_by_a_fresh_start_without_the_code(make_engine):
    # The 1.5B model asked to fix its own code tends to keep it (HumanEval/6, /26, /33 kept failing their
    # examples over three repairs): after one repair, the next attempt sees the goal and what went wrong only.
    wrong = "```python\ndef add_one(xs: list) -> list:\n    return [x + 2 for x in xs]\n```"
    still = "```python\ndef add_one(xs: list) -> list:\n    return [x + 3 for x in xs]\n```"
    right = "```python\ndef add_one(xs: list) -> list:\n    return [x + 1 for x in xs]\n```"
    engine = make_engine(model=[{"reply": wrong}, {"match": "by hand", "reply": still}, {"match": "anew", "reply": right}], samples=1)
    run_id, status = run(engine, STUB, "solve")

    assert status == "done" and "x + 1" in result(engine, run_id)["code"]
    calls = [json.loads(c["request"])["messages"] for c in engine.store.llm_calls(run_id)]
    assert len(calls) == 3
    fresh = calls[2]
    assert len(fresh) == 2 and "x + 2" not in fresh[1]["content"] and "x + 3" not in fresh[1]["content"]
    assert "add_one([1, 2]) gave [4, 5], but the task says [2, 3]" in fresh[1]["content"]


def test_after_the_last_repair_the_candidate_failing_the_fewest_examples_is_kept(make_engine):
    half = "```python\ndef add_one(xs: list) -> list:\n    return [x + 2 for x in xs] if xs else []\n```"
    worse = "```python\ndef add_one(xs: list) -> list:\n    return [0]\n```"
    engine = make_engine(model=[{"reply": half}, {"match": "by hand", "reply": worse, "repeat": True}], max_repairs=1)
    run_id, status = run(engine, STUB, "solve")

    assert status == "unmet"
    out = result(engine, run_id)
    assert "x + 2" in out["code"] and out["approved"] is False  # one example wrong, not the last try's two
    assert "add_one([1, 2]) gave [3, 4]" in out["issues"][0]


def test_a_fresh_start_samples_more_widely_than_a_repair(make_engine, scripted_model):
    wrong = "```python\ndef add_one(xs: list) -> list:\n    return [x + 2 for x in xs]\n```"
    right = "```python\ndef add_one(xs: list) -> list:\n    return [x + 1 for x in xs]\n```"
    server = scripted_model([{"reply": wrong}, {"match": "by hand", "reply": wrong}, {"match": "anew", "reply": right}])
    engine = make_engine(model=server, samples=1)
    run_id, status = run(engine, STUB, "solve")

    assert status == "done"
    sent = [r["temperature"] for r in server.requests]
    assert sent[0] == sent[1] == engine.config.model.temperature and sent[2] == 0.8


def test_a_module_the_code_uses_but_never_imports_is_imported_for_it_without_a_call(make_engine):
    # Seen with the 1.5B model on HumanEval/144: math.gcd in the body, no `import math`; nothing failed
    # until the function was called, so the goal's examples (stated in prose) caught it too late.
    goal = ('def half_gcd(a: int, b: int) -> float:\n    """Half the gcd of a and b.\n\n'
            '    half_gcd(4, 6) = 1.0\n    """\n')
    engine = make_engine(model=[{"reply": "```python\ndef half_gcd(a: int, b: int) -> float:\n    return math.gcd(a, b) / 2\n```"}], samples=1)
    run_id, status = run(engine, goal, "solve")

    assert status == "done" and len(engine.store.llm_calls(run_id)) == 1
    assert result(engine, run_id)["code"].startswith("import math\n")


def test_examples_stated_in_prose_send_a_wrong_function_back(make_engine):
    goal = 'def double(x: int) -> int:\n    """Twice x.\n\n    double(3) ==> 6\n    """\n'
    engine = make_engine(model=[{"reply": "```python\ndef double(x: int) -> int:\n    return x + 2\n```"},
                                {"match": "own examples show", "reply": "```python\ndef double(x: int) -> int:\n    return 2 * x\n```"}], samples=1)
    run_id, status = run(engine, goal, "solve")

    assert status == "done" and "2 * x" in result(engine, run_id)["code"]
    feedback = json.loads(engine.store.llm_calls(run_id)[1]["request"])["messages"][-1]["content"]
    assert "double(3) gave 5, but the task says 6" in feedback
