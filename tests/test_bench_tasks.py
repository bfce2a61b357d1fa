"""bench/tasks.py, end to end: the swarm and smolagents' CodeAgent (and one bare call) against a real scripted
model server on loopback, the bench a real subprocess; answers judged by regex, HumanEval code by its hidden
test run in the swarm's sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarm.config import Config
from swarm.sandbox import Sandbox
from swarm.testing.pytest_plugin import scripted_model  # noqa: F401  (until the package is pip-installed)
from timeouts import scaled

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench" / "tasks.py"
sys.path.insert(0, str(REPO / "bench"))

import tasks_humaneval as humaneval  # noqa: E402

USAGE_SWARM = {"prompt_tokens": 100, "completion_tokens": 5}
USAGE_AGENT = {"prompt_tokens": 1000, "completion_tokens": 10}


def run_bench(tmp_path: Path, *args: str, timeout_s: float = 240, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))} | settings
    env["SWARM_TEST_TIMEOUT_SCALE"] = os.environ.get("SWARM_TEST_TIMEOUT_SCALE", "1")
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=scaled(timeout_s))


def records(path: Path) -> dict[tuple[str, str], dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {(r["id"], r["system"]): r for r in rows}


def write_goals(path: Path, goals: list[dict]) -> Path:
    path.write_text("".join(json.dumps(g) + "\n" for g in goals))
    return path


# --- the goals suite -------------------------------------------------------------------------------


def test_goals_suite_judges_each_final_answer_by_its_regex_for_the_swarm_and_codeagent(scripted_model, tmp_path):
    server = scripted_model([
        # CodeAgent: its task arrives as "New task:\n<goal>", its action is a <code> block calling final_answer
        {"match": r"New task:.*six times seven", "usage": USAGE_AGENT,
         "reply": "Thought: six times seven is 42.\n<code>\nfinal_answer(6 * 7)\n</code>"},
        {"match": r"New task:.*capital of France", "usage": USAGE_AGENT,
         "reply": "Thought: I know this one.\n<code>\nfinal_answer(\"Lyon\")\n</code>"},
        # the swarm's root (solve): the goal is the user message; a reply that is an answer is the answer
        {"match": r"^What is six times seven", "reply": "Answer: 42", "usage": USAGE_SWARM},
        {"match": r"^Name the capital of France", "reply": "Answer: Lyon", "usage": USAGE_SWARM},
    ])
    goals = write_goals(tmp_path / "goals.jsonl", [
        {"goal": "What is six times seven?", "answer_regex": r"\b42\b"},
        {"goal": "Name the capital of France.", "answer_regex": "Paris"},
        {"goal": "A third goal that --limit 2 leaves out.", "answer_regex": "x"},
    ])
    out = tmp_path / "records.jsonl"

    done = run_bench(tmp_path, "--model", server.url, "--goals", str(goals), "--systems", "swarm,codeagent",
                     "--limit", "2", "--max-calls", "3", "--timeout-s", "120", "--out", str(out))

    assert done.returncode == 0, done.stderr
    [line] = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["suite"] == "goals" and line["n"] == 2
    assert (line["swarm_solved"], line["swarm_solve_rate"]) == (1, 0.5)
    assert (line["codeagent_solved"], line["codeagent_solve_rate"]) == (1, 0.5)
    assert (line["swarm_model_calls"], line["codeagent_model_calls"]) == (2, 2)
    assert (line["swarm_prompt_tokens"], line["swarm_completion_tokens"]) == (200, 10)
    assert (line["codeagent_prompt_tokens"], line["codeagent_completion_tokens"]) == (2000, 20)
    assert line["swarm_prompt_tokens_per_solved"] == 200 and line["codeagent_prompt_tokens_per_solved"] == 2000
    assert line["swarm_model_calls_median"] == 1 and line["swarm_wall_s_median"] > 0
    assert "codeagent_wall_s_median" in line and "single_solve_rate" not in line  # the bare call is HumanEval's floor
    assert len(line["load"]) == 2 and line["model"] == "scripted"
    rows = records(out)
    assert {key: row["solved"] for key, row in rows.items()} == {
        ("goal-1", "swarm"): True, ("goal-1", "codeagent"): True,
        ("goal-2", "swarm"): False, ("goal-2", "codeagent"): False,
    }
    assert rows[("goal-2", "swarm")]["answer"] == "Lyon" and rows[("goal-1", "codeagent")]["answer"] == "42"
    assert rows[("goal-1", "swarm")]["status"] == "done"
    progress = [text for text in done.stderr.splitlines() if text.startswith("tasks: goals goal-")]
    assert len(progress) == 4 and 'goal-2 codeagent solved=no calls=1 prompt_tokens=1000' in " ".join(progress)
    assert server.unused_lines == []


def test_a_bad_goals_file_is_one_clear_message_before_any_model_is_asked(scripted_model, tmp_path):
    server = scripted_model([{"reply": "never asked", "repeat": True}])
    goals = write_goals(tmp_path / "goals.jsonl", [{"goal": "g", "answer_regex": "(unclosed"}])

    done = run_bench(tmp_path, "--model", server.url, "--goals", str(goals), "--out", str(tmp_path / "r.jsonl"))

    assert done.returncode == 2 and done.stdout == ""
    assert f"{goals} line 1: answer_regex is not a valid regex" in done.stderr
    assert "Traceback" not in done.stderr and server.requests == []


# --- the HumanEval suite ---------------------------------------------------------------------------

LONGEST = "HumanEval/12"  # longest(strings): the first of the longest, None for an empty list
RIGHT = ("from typing import List, Optional\n\ndef longest(strings: List[str]) -> Optional[str]:\n"
         "    if not strings:\n        return None\n    return max(strings, key=len)\n")
WRONG = "```python\n    return strings[-1] if strings else None\n```"  # a body alone, returning the last one


def test_humaneval_code_passes_or_fails_by_the_hidden_test_run_in_the_sandbox(scripted_model, tmp_path):
    server = scripted_model([
        # CodeAgent defines the function in a step and hands back the function object, not code
        {"match": r"New task:.*def longest", "usage": USAGE_AGENT,
         "reply": f"Thought: the first of the longest.\n<code>\n{RIGHT}\nfinal_answer(longest)\n</code>"},
        # the swarm (solve) writes the whole function; the single call only a wrong body
        {"match": r"^Complete the Python function.*def longest", "usage": USAGE_SWARM,
         "reply": f"```python\n{RIGHT}print(longest(['a', 'bb']))\n```"},
        {"match": r"^Complete the Python function.*def longest", "usage": USAGE_SWARM, "reply": WRONG},
    ])
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{LONGEST}\n")
    out = tmp_path / "records.jsonl"

    done = run_bench(tmp_path, "--model", server.url, "--humaneval-ids", str(ids), "--systems", "swarm,codeagent,single",
                     "--max-calls", "3", "--timeout-s", "120", "--out", str(out),
                     SWARM_RUN_SAMPLES="1")  # one candidate: the replies above are taken in order

    assert done.returncode == 0, done.stderr
    [line] = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["suite"] == "humaneval" and line["n"] == 1
    assert (line["swarm_solve_rate"], line["codeagent_solve_rate"], line["single_solve_rate"]) == (1.0, 1.0, 0.0)
    assert line["single_model_calls"] == 1 and line["single_prompt_tokens_per_solved"] is None
    rows = records(out)
    assert "return max(strings, key=len)" in rows[(LONGEST, "swarm")]["code"]
    assert "def longest" in rows[(LONGEST, "codeagent")]["code"]  # from its step: its final answer was a function
    single = rows[(LONGEST, "single")]
    assert single["solved"] is False and single["check_error"].startswith("InterpreterError")  # the sandbox's executor
    assert "candidate(['x', 'y', 'z']) == 'x'" in single["check_error"]  # an assert of the hidden test decided it
    assert not any("candidate(" in r.get("last_user", "") for r in server.requests)  # never shown to a system


@pytest.fixture(scope="module")
def sandbox():
    cfg = Config()
    with Sandbox(cfg.sandbox, cfg.python.authorized_imports, pool_size=1) as box:
        yield box


@pytest.fixture(scope="module")
def longest(tmp_path_factory):
    ids = tmp_path_factory.mktemp("humaneval") / "ids.txt"
    ids.write_text(LONGEST + "\n")
    return humaneval.load_problems(ids)[0]


def test_the_check_runs_in_the_sandbox_under_its_import_allowlist(sandbox, longest):
    assert humaneval.check(sandbox, longest, RIGHT).passed
    sneaky = "import subprocess\n" + RIGHT  # right on the host; the sandbox refuses the import
    result = humaneval.check(sandbox, longest, sneaky)
    assert not result.passed and "subprocess" in result.error


def test_only_the_definitions_of_the_code_are_checked_not_its_example_calls(sandbox, longest):
    scaffolded = RIGHT + "print(longest(['a']))\nfinal_answer(longest)\nif __name__ == '__main__':\n    longest(None)\n"
    assert humaneval.check(sandbox, longest, scaffolded).passed


def test_a_body_without_its_signature_goes_under_the_prompt(longest):
    program = humaneval.program(longest, "if not strings:\n    return None\nreturn max(strings, key=len)")
    assert program.startswith(longest["prompt"] + "    if not strings:\n        return None")
    assert program.rstrip().endswith("check(longest)")


def test_the_goal_holds_the_prompt_and_never_the_test(longest):
    goal = humaneval.goal(longest)
    assert longest["prompt"] in goal and "def check(" not in goal and "zzzz" not in goal
