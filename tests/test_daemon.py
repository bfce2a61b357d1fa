"""The daemon in this process: goals from the watched folder run at once under the cap, names never collide, every
kill point recovers, runs waiting for a person go on when answered, goal files name their model and budgets."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from daemon_support import DEMO, files, swarm
from lifecycle_support import make_engine  # noqa: F401
from swarm.daemon import ledger
from swarm.daemon.eventlog import EventLog
from swarm.daemon.folder import write_atomically
from swarm.daemon.service import Daemon
from swarm.engine import new_run_id

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL (the daemon's ledger too)


def serve_until(daemon: Daemon, done, timeout: float = 20) -> None:
    """Run the daemon in this process until `done()` holds, then stop it as SIGTERM would."""

    async def main() -> None:
        task = asyncio.create_task(daemon.serve())
        deadline = time.monotonic() + timeout
        while not done():
            assert not task.done(), task.exception()
            assert time.monotonic() < deadline, "the daemon did not get there in time"
            await asyncio.sleep(0.05)
        daemon.stop("test over")
        await task

    asyncio.run(main())


LINES = [
    {"match": "^Break this goal down", "repeat": True, "reply": {"subgoals": ["one", "two", "three"], "policy": "all"}},
    {"match": "^Write the text", "repeat": True, "reply": "Here is the text.", "delay_s": 0.2},
]


def text_goal(goal: str, **more) -> str:
    """A goal file whose root is one write_text node: one model call, nothing routed."""
    return json.dumps({"goal": goal, "script": "write_text", **more})


@pytest.fixture
def demo(make_engine, scripted_model, tmp_path):
    """An engine on a small scripted model with a short settle time, and its watched folder."""
    server = scripted_model(LINES)

    def make(**daemon_settings) -> tuple[Daemon, Path]:
        settings = {"SWARM_DAEMON_SETTLE_MS": "50", **{f"SWARM_DAEMON_{k.upper()}": str(v) for k, v in daemon_settings.items()}}
        engine = make_engine(model=server, settings=settings)
        folder = tmp_path / "goals"
        daemon = Daemon(engine, folder, EventLog(open(tmp_path / "daemon.log", "a", buffering=1)))
        daemon.folder.ensure()
        return daemon, folder

    make.server = server
    return make


def finished(folder: Path, n: int):
    return lambda: len(files(folder, "done")) + len(files(folder, "failed")) >= 2 * n and not files(folder, "processing")


def test_goals_run_at_once_but_never_more_than_the_cap(demo):
    daemon, folder = demo(max_concurrent_runs=3)
    for i in range(5):
        (folder / "inbox" / f"goal{i}.json").write_text(text_goal(f"Plan outing number {i}"))
    serve_until(daemon, finished(folder, 5))
    runs = daemon.store.runs()
    assert len(runs) == 5 and {r["status"] for r in runs} == {"done"}
    moments = sorted([(r["created_at"], 1) for r in runs] + [(r["finished_at"], -1) for r in runs])
    at_once, most = 0, 0
    for _, step in moments:
        at_once += step
        most = max(most, at_once)
    assert 2 <= most <= 3


def test_a_name_taken_in_done_gets_a_suffix_and_nothing_is_overwritten(demo):
    daemon, folder = demo()
    (folder / "done").mkdir(parents=True, exist_ok=True)
    (folder / "done" / "trip.json").write_text("an earlier goal")
    (folder / "done" / "trip.result.md").write_text("an earlier result")
    (folder / "inbox" / "trip.json").write_text(text_goal("Plan a trip to Porto"))
    serve_until(daemon, finished(folder, 2))
    assert (folder / "done" / "trip.json").read_text() == "an earlier goal"
    assert (folder / "done" / "trip.result.md").read_text() == "an earlier result"
    assert json.loads((folder / "done" / "trip-2.json").read_text())["goal"] == "Plan a trip to Porto"
    assert "Plan a trip to Porto" in (folder / "done" / "trip-2.result.md").read_text()


def test_every_kill_point_is_recovered_without_a_second_run_or_a_second_model_call(demo):
    daemon, folder = demo()
    engine, store, key = daemon.engine, daemon.store, daemon.key
    processing = folder / "processing"
    # Killed after the move to processing/, before the ledger row.
    (processing / "moved.json").write_text(text_goal("Plan a picnic"))
    # Killed after the row (run id chosen), before the run was created.
    (processing / "recorded.json").write_text(text_goal("Plan a museum visit"))
    planned = new_run_id() + "x"
    ledger.record_claim(store, key, "recorded.json", "recorded.json", "sha", planned)
    # Killed after the run finished, before the file moved.
    (processing / "ran.json").write_text(text_goal("Plan a dinner"))
    ran = engine.create_run("Plan a dinner", script="write_text")
    assert asyncio.run(engine.drive(ran)) == "done"
    ledger.record_claim(store, key, "ran.json", "ran.json", "sha", ran)
    # Killed after the destination and the result file were written, before the move.
    (processing / "moving.json").write_text(text_goal("Plan a concert"))
    moving = engine.create_run("Plan a concert", script="write_text")
    assert asyncio.run(engine.drive(moving)) == "done"
    goal_id = ledger.record_claim(store, key, "moving.json", "moving.json", "sha", moving)
    ledger.record_outcome(store, goal_id, "done", str(folder / "done" / "moving.json"))
    write_atomically(folder / "done" / "moving.result.md", "half of an earlier attempt")
    calls_before = len(demo.server.requests)

    serve_until(daemon, finished(folder, 4))

    assert files(folder, "done") == sorted(f"{n}{s}" for n in ("moved", "recorded", "ran", "moving") for s in (".json", ".result.md"))
    runs = {r["goal"]: r for r in store.runs()}
    assert sorted(runs) == ["Plan a concert", "Plan a dinner", "Plan a museum visit", "Plan a picnic"]
    assert runs["Plan a museum visit"]["id"] == planned  # created under the id recorded before the crash
    assert "Plan a concert" in (folder / "done" / "moving.result.md").read_text()
    new_calls = demo.server.requests[calls_before:]
    assert len(new_calls) == 2  # only the two new runs asked the model, once each
    assert all(g["state"] == "finished" for g in ledger.goals(store, key))


def test_a_run_waiting_for_a_person_stays_in_processing_and_goes_on_when_approved_elsewhere(demo, tmp_path):
    daemon, folder = demo(max_concurrent_runs=1)
    (folder / "inbox" / "ask.json").write_text(json.dumps({"goal": "Should we go?", "script": "ask_human"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(tmp_path / "swarm.db"), SWARM_STORE_URL=daemon.engine.config.store.url or "",
               SWARM_MODEL=f"scripted:{DEMO}", SWARM_RUN_ROOT_SCRIPT="break_down_goal")
    answered, dropped = [], []

    def waiting_then_answered() -> bool:
        if not dropped and daemon.store.approvals(status="pending"):
            # Waiting does not hold the one slot: another goal runs to its end meanwhile.
            (folder / "inbox" / "other.json").write_text(text_goal("Plan a walk"))
            dropped.append(True)
        if not answered and "other.result.md" in files(folder, "done"):
            assert files(folder, "processing") == ["ask.json"]
            request = daemon.store.approvals(status="pending")[0]
            answered.append(swarm(["approve", str(request["id"]), "--edit-text", "yes, on Sunday"], env))
        return finished(folder, 2)()

    serve_until(daemon, waiting_then_answered)
    assert answered[0].returncode == 0, answered[0].stderr
    result = (folder / "done" / "ask.result.md").read_text()
    assert "- status: done" in result and "yes, on Sunday" in result


def test_a_goal_file_may_name_its_model_and_budgets(demo):
    daemon, folder = demo()
    (folder / "inbox" / "own.json").write_text(json.dumps({"goal": "Plan a trip", "model": "goal-model", "max_nodes": 3}))
    serve_until(daemon, finished(folder, 1))
    run = daemon.store.runs()[0]
    assert json.loads(run["budgets"]) == {"max_nodes": 3}
    assert run["status"] == "stopped" and "max_nodes=3" in run["stop_reason"]
    assert {c["model"] for c in daemon.store.llm_calls(run["id"])} == {"goal-model"}
    assert "max_nodes=3" in (folder / "failed" / "own.result.md").read_text()


def test_an_unknown_script_is_refused_without_a_run(demo):
    daemon, folder = demo()
    (folder / "inbox" / "odd.toml").write_text('goal = "Plan a trip"\nscript = "no_such_script"\n')
    serve_until(daemon, finished(folder, 1))
    assert daemon.store.runs() == []
    assert "no node script named 'no_such_script'" in (folder / "failed" / "odd.error.txt").read_text()


def test_an_idle_daemon_sleeps_until_its_next_look_is_due_and_a_file_or_a_stop_wakes_it(demo):
    """With nothing to do the loop waits until its next look at the queue or the folder is due, not a poll
    (settle_ms / 10); while a file settles it polls; the watcher's event and a stop end the wait at once."""
    daemon, folder = demo()
    late = folder / "inbox" / "late.json"
    late.write_text(text_goal("Plan a late walk"))

    async def main() -> None:
        daemon.stopping, daemon.nudged = asyncio.Event(), asyncio.Event()  # as serve() makes them
        looked = time.monotonic() + 60  # the last looks: the next ones are due in a minute
        assert daemon.next_look(looked, looked, looked) > 60 > daemon.poll_s
        for wake in (lambda: daemon.noted(late), lambda: daemon.stop("test over")):
            daemon.nudged.clear()
            waiting = asyncio.create_task(daemon.pause(3600))
            await asyncio.sleep(0)
            assert not waiting.done()
            wake()
            await asyncio.wait_for(waiting, 60)  # (a limit against a hang: it ends at once)
            assert daemon.next_look(looked, looked, looked) == daemon.poll_s  # the noted file settles: a poll

    asyncio.run(main())
