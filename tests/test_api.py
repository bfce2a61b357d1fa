"""The Python API (issue 15): `Swarm(...).run/arun/stream/resume/fork/cancel/approve/history`, over a real store
and the scripted model's real loopback HTTP server, as a program embedding the swarm would use it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from swarm import (ApprovalNeeded, ModelCalled, NodeEnded, NodeSpawned, NodeStarted, Result, RunEnded, Swarm)
from swarm.config import load_config
from swarm.errors import SwarmError
from timeouts import scaled

GCD = "What is the greatest common divisor of 1071 and 462?"
CODE = "```python\nimport math\nprint(math.gcd(1071, 462))\n```"


@pytest.fixture
def swarm_for(tmp_path, scripted_model, store_url):
    """Swarms on the store of `store_url`: each test that makes one runs on SQLite and on PostgreSQL."""
    made: list[Swarm] = []

    def make(lines, **kwargs) -> Swarm:
        server = scripted_model(lines)
        cfg = load_config(env={"SWARM_TOOLSMITH_FOLDER": str(tmp_path / "generated"), "SWARM_MODEL_MAX_RETRIES": "0"})
        made.append(Swarm(cfg, store=store_url, base_url=server.url, **kwargs))
        return made[-1]

    yield make
    for swarm in made:
        swarm.close()


def test_run_returns_the_answer_and_what_it_cost(swarm_for, tmp_path, store_url):
    with swarm_for([{"reply": CODE}]) as swarm:
        result = swarm.run(GCD, max_nodes=5)

    assert isinstance(result, Result) and result.ok and result.status == "done"
    assert result.answer == "21" and "math.gcd" in result.result["code"]
    assert result.nodes == 1 and result.prompt_tokens > 0
    # The run is the store's like any other: the CLI shows it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    shown = subprocess.run([sys.executable, "-m", "swarm.cli", "--store", store_url, "show", result.run_id],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=scaled(60))
    assert shown.returncode == 0, shown.stderr
    assert "21" in shown.stdout


def test_stream_yields_the_recorded_events_as_typed_objects_and_the_result_last(swarm_for):
    swarm = swarm_for([{"reply": CODE}])

    events = list(swarm.stream(GCD))

    kinds = [type(e) for e in events]
    assert events[0].kind == "run_start" and kinds[1] is NodeSpawned and events[1].script == "solve"
    assert kinds.index(NodeStarted) < kinds.index(ModelCalled) < kinds.index(NodeEnded)
    call = next(e for e in events if isinstance(e, ModelCalled))
    assert call.node_id == "1" and call.prompt_tokens > 0
    ended = next(e for e in events if isinstance(e, NodeEnded))
    assert ended.status == "done" and ended.output["answer"] == "21"
    assert isinstance(events[-1], RunEnded) and events[-1].result.answer == "21"
    # The stream is the history: the same events in the same order, and the same model calls (a call shows
    # up in a stream as soon as it is recorded, so where it falls among the events may differ).
    history = swarm.history(events[0].run_id)
    recorded = [(type(e), e.seq) for e in history if not isinstance(e, ModelCalled)]
    assert recorded == [(type(e), e.seq) for e in events[:-1] if not isinstance(e, ModelCalled)]
    assert [e.at for e in history if isinstance(e, ModelCalled)] == [e.at for e in events if isinstance(e, ModelCalled)]


def test_arun_runs_inside_the_programs_own_event_loop(swarm_for):
    swarm = swarm_for([{"reply": CODE}])

    async def main():
        return await asyncio.gather(swarm.arun(GCD), asyncio.sleep(0, result="the loop was free"))

    result, other = asyncio.run(main())
    assert result.answer == "21" and other == "the loop was free"


def test_a_question_for_a_person_waits_is_answered_through_the_api_and_resumed(swarm_for):
    swarm = swarm_for([{"reply": "ok", "repeat": True}])

    waiting = swarm.run("Which city should the trip go to?", script="ask_human")

    assert waiting.status == "awaiting_approval" and not waiting.ok
    [request] = swarm.approvals(waiting.run_id)
    assert request["question"] == "Which city should the trip go to?"
    swarm.approve(request["id"], edited="Lisbon")
    done = swarm.resume(waiting.run_id)
    assert done.ok and done.answer == "Lisbon"


def test_deciding_and_looking_back_open_the_store_alone(swarm_for, tmp_path, store_url):
    """A Swarm that only decides requests and reads runs (as `swarm approve` does) makes no engine: no model
    client, MCP server or sandbox; the history keeps who decided."""
    waiting = swarm_for([{"reply": "ok", "repeat": True}]).run("Which city should the trip go to?", script="ask_human")
    program = (
        "import json, sys\nfrom swarm import Swarm\n"
        f"with Swarm(store={store_url!r}) as swarm:\n"
        f"    [request] = swarm.approvals({waiting.run_id!r})\n"
        "    decided = swarm.approve(request['id'], edited='Lisbon', by='app:trips')\n"
        f"    kinds = [e.kind for e in swarm.history({waiting.run_id!r})]\n"
        "print(json.dumps({'by': decided['decided_by'], 'engine': 'swarm.engine' in sys.modules, 'kinds': kinds}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    done = subprocess.run([sys.executable, "-c", program], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=scaled(60))

    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["by"] == "app:trips" and seen["engine"] is False
    assert "awaiting_approval" in seen["kinds"]
    done = swarm_for([{"reply": "ok", "repeat": True}]).resume(waiting.run_id)  # the decision is in the store
    assert done.ok and done.answer == "Lisbon"


def test_resume_without_running_checks_the_run_and_gives_its_id(swarm_for):
    swarm = swarm_for([{"reply": CODE}])
    run_id = swarm.submit(GCD)

    assert swarm.resume(run_id[:-2], run=False) == run_id  # a unique prefix is enough
    assert swarm.result(run_id).status == "pending"  # nothing ran
    assert swarm.resume(run_id).ok


def test_stream_shows_a_run_waiting_for_a_person(swarm_for):
    swarm = swarm_for([{"reply": "ok", "repeat": True}])

    events = list(swarm.stream("Which city should the trip go to?", script="ask_human"))

    asked = [e for e in events if isinstance(e, ApprovalNeeded)]
    assert asked and asked[0].question == "Which city should the trip go to?"
    assert events[-1].result.status == "awaiting_approval"


def test_a_fork_with_an_edited_goal_reruns_from_there(swarm_for):
    swarm = swarm_for([{"match": "1071", "reply": CODE},
                       {"match": "1000", "reply": "```python\nimport math\nprint(math.gcd(1000, 75))\n```"}])
    first = swarm.run(GCD)
    spawn = next(e for e in swarm.history(first.run_id) if isinstance(e, NodeSpawned))

    forked = swarm.fork(first.run_id, spawn.seq, {"1.data.goal": "What is the gcd of 1000 and 75?"})

    assert isinstance(forked, Result) and forked.run_id != first.run_id
    assert forked.ok and forked.answer == "25"
    assert swarm.result(first.run_id).answer == "21"  # the original is untouched


def test_leaving_a_stream_early_cancels_its_run(swarm_for):
    swarm = swarm_for([{"reply": CODE, "delay_s": 30}])

    stream = swarm.stream(GCD)
    first = next(e for e in stream if isinstance(e, NodeSpawned))
    stream.close()  # the program stops listening before the slow reply comes

    assert swarm.result(first.run_id).status == "cancelled"


def test_misuse_gets_a_clear_error(swarm_for):
    swarm = swarm_for([{"reply": CODE}])
    with pytest.raises(SwarmError, match="a goal to run, or run_id="):
        next(swarm.stream(GCD, run_id="20260101-000000-abcdef"))
    with pytest.raises(SwarmError, match="unknown budget"):
        swarm.run(GCD, max_nodez=3)
    swarm.close()
    with pytest.raises(SwarmError, match="this Swarm is closed"):
        swarm.run(GCD)


def test_the_readme_example_runs_as_written(swarm_for, tmp_path):
    readme = (os.path.dirname(__file__) + "/../README.md")
    text = open(readme, encoding="utf-8").read()
    start = text.index("<!-- api-example -->")
    block = text[text.index("```python\n", start) + len("```python\n"):text.index("```", text.index("```python\n", start) + 10)]
    swarm = swarm_for([{"reply": CODE, "repeat": True}])
    swarm.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=swarm.config.model.base_url, SWARM_STORE=str(tmp_path / "api.db"))
    done = subprocess.run([sys.executable, "-c", block], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=scaled(120))
    assert done.returncode == 0, done.stderr
    assert "done 21" in done.stdout
    assert json.loads(done.stdout.splitlines()[-1])["kinds"][:2] == ["run_start", "spawn"]
