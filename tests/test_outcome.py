"""Outcome honesty (issue 11, failure 6): a run whose own review does not approve its answer ends `unmet`,
shown as such everywhere, filed by the daemon outside done/, with its best partial answer kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle_support import wait_for
from lifecycle_support import make_engine, run  # noqa: F401
from swarm.daemon.eventlog import EventLog
from swarm.daemon.service import Daemon
from timeouts import scaled

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL

REJECTED = [
    {"match": "^Break this goal down", "reply": {"subgoals": ["Compute the sum"]}},
    {"match": "^Choose the node script", "reply": {"script": "write_python"}},
    {"match": "^Write Python code", "reply": "```python\nprint(1060)\n```"},
    {"match": "^Review these results", "reply": {"approved": False, "summary": "The sum is 1060, of the primes below 100.",
                                                 "issues": ["the goal asks for the first 100 primes, not those below 100"]}},
]


def test_a_run_whose_review_does_not_approve_ends_unmet_with_its_partial_answer(make_engine):
    engine = make_engine(model=REJECTED)

    run_id, status = run(engine, "Compute the sum of the first 100 primes", "break_down_goal")

    assert status == "unmet"
    row = engine.store.run(run_id)
    assert row["status"] == "unmet"
    assert json.loads(row["result"])["answer"] == "The sum is 1060, of the primes below 100."
    review_prompt = json.loads(engine.store.llm_calls(run_id)[-1]["request"])["messages"][-1]["content"]
    assert "- Compute the sum: done 1060" in review_prompt  # the printed answer reached the reviewer


def test_swarm_run_says_the_goal_was_not_met_and_exits_non_zero(tmp_path, store_url):
    script = tmp_path / "model.jsonl"
    script.write_text("\n".join(json.dumps({**line, "repeat": True}) for line in REJECTED) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(tmp_path / "swarm.db"), SWARM_STORE_URL=store_url, SWARM_MODEL=f"scripted:{script}", SWARM_RETRIEVAL_FUSION="bm25")
    done = subprocess.run([sys.executable, "-m", "swarm.cli", "run", "Compute the sum of the first 100 primes",
                           "--script", "break_down_goal"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=scaled(120))

    assert done.returncode == 1, done.stderr
    assert ": unmet" in done.stdout
    assert "the goal was NOT met" in done.stdout and "The sum is 1060" in done.stdout
    assert "missing: the goal asks for the first 100 primes" in done.stdout


def test_the_daemon_files_an_unmet_goal_under_failed_with_the_partial_answer(make_engine, scripted_model, tmp_path):
    engine = make_engine(model=scripted_model([{**line, "repeat": True} for line in REJECTED]),
                         settings={"SWARM_DAEMON_SETTLE_MS": "50"})
    folder = tmp_path / "goals"
    daemon = Daemon(engine, folder, EventLog(open(tmp_path / "daemon.log", "a", buffering=1)))
    daemon.folder.ensure()
    (folder / "inbox" / "primes.json").write_text(json.dumps({"goal": "Compute the sum of the first 100 primes",
                                                              "script": "break_down_goal"}))
    import asyncio

    async def serve():
        task = asyncio.create_task(daemon.serve())
        await asyncio.to_thread(wait_for, lambda: (folder / "failed" / "primes.result.md").exists(), 60)
        daemon.stop("test over")
        await task

    asyncio.run(serve())
    text = (folder / "failed" / "primes.result.md").read_text()
    assert "status: unmet" in text
    assert "## Partial answer (the goal was not met)" in text and "The sum is 1060" in text
    assert "the goal asks for the first 100 primes" in text
    assert not (folder / "done" / "primes.json").exists()


ADD_ONE = '''def add_one(xs: list) -> list:
    """ Add one to every number.
    >>> add_one([1, 2])
    [2, 3]
    """
'''
WRONG = "```python\ndef add_one(xs: list) -> list:\n    return [x + 2 for x in xs]\n```"


def test_a_run_stopped_by_its_budget_keeps_the_best_candidate_its_repairs_had(make_engine):
    engine = make_engine(model=[{"reply": WRONG, "repeat": True}], max_repairs=3, samples=1)

    run_id, status = run(engine, ADD_ONE, "solve", budgets={"max_nodes": 2})

    assert status == "stopped"
    result = json.loads(engine.store.run(run_id)["result"])
    assert "x + 2" in result["code"] and result["approved"] is False
    assert result["issues"][0].startswith("budget: max_nodes")
    assert "add_one([1, 2]) gave [3, 4]" in result["issues"][1]


def test_a_decomposition_stopped_by_its_budget_keeps_the_answers_of_its_finished_steps(make_engine):
    engine = make_engine(model=[
        {"match": "^Break this goal down", "reply": {"subgoals": ["Compute 6*7", "Compute 5*5"], "policy": "sequence"}},
        {"match": "^Choose the node script", "reply": {"script": "write_python"}, "repeat": True},
        {"match": "^Write Python code", "reply": "```python\nprint(6*7)\n```", "repeat": True},
    ])

    run_id, status = run(engine, "Compute 6*7, then 5*5", "break_down_goal", budgets={"max_nodes": 4})

    assert status == "stopped"
    result = json.loads(engine.store.run(run_id)["result"])
    assert result["approved"] is False and result["issues"][0].startswith("budget: max_nodes")
    assert "42" in json.dumps(result["answer"])


def test_swarm_run_shows_what_a_stopped_run_had_found(tmp_path, store_url):
    script = tmp_path / "model.jsonl"
    script.write_text(json.dumps({"reply": WRONG, "repeat": True}) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(tmp_path / "swarm.db"), SWARM_STORE_URL=store_url, SWARM_MODEL=f"scripted:{script}", SWARM_RETRIEVAL_FUSION="bm25",
               SWARM_RUN_SAMPLES="1")
    done = subprocess.run([sys.executable, "-m", "swarm.cli", "run", ADD_ONE, "--max-nodes", "2"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=scaled(120))

    assert done.returncode != 0, done.stdout
    assert ": stopped" in done.stdout
    assert "what it had found (not checked as an answer)" in done.stdout and "x + 2" in done.stdout
