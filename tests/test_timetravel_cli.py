"""`swarm checkout`, `swarm fork` and `swarm diff` through the real CLI in subprocesses, against the
scripted model in its own process, whose request log shows every call that reached the model.

The run: the demo goal with the built-in scripts (1 break_down_goal → 1.1, 1.2, 1.3 route → their
children; then 1.4 review). The fork edits node 1.3's goal at the event where the root has just
spawned its three children. Downstream of 1.3 there (see tests/test_timetravel.py for the exact
definition): 1.3 and its subtree, its ancestor 1, and 1.4, spawned by 1 after the fork point.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lifecycle_support import make_engine, script  # noqa: F401
from timeouts import scaled

from swarm.cli.timetravel import diff_lines
from swarm.store import open_store
from swarm.testing.pytest_plugin import backends
from swarm.timetravel import diff

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_model.jsonl"
GOAL = "Plan a three-day trip to Lisbon"
PORTO = "Write a short plan for a day in Porto"


STORES: dict[Path, str] = {}  # a folder of these tests -> its store's URL: "" (its swarm.db) or a PostgreSQL database


@pytest.fixture(scope="module", params=backends())
def served(tmp_path_factory, request):
    """The demo model plus one reply for the edited goal, served by its own process: (folder, url, log). Once with
    the store an SQLite file in the folder, once a PostgreSQL database."""
    folder = tmp_path_factory.mktemp("timetravel")
    database = None
    if request.param == "postgres":
        cluster = request.getfixturevalue("throwaway_postgres")
        database = cluster.create_database(template=request.getfixturevalue("postgres_template"))
    STORES[folder] = database or ""
    script = folder / "model.jsonl"
    porto = {"match": "^Write the text this goal asks for.*Goal: Write a short plan for a day in Porto", "repeat": True,
             "reply": "Porto: 1) Ribeira at dawn, 2) port cellars, 3) sunset at the Jardim do Morro."}
    script.write_text(json.dumps(porto) + "\n" + DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    log = folder / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "swarm.testing", "serve", str(script), "--log", str(log)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield folder, line.rsplit(" ", 1)[1].strip(), log
    proc.terminate()
    proc.wait(10)
    if database:
        cluster.drop_database(database)


def swarm(folder: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=url, SWARM_MODEL="demo-model", SWARM_STORE=str(folder / "swarm.db"),
               SWARM_STORE_URL=STORES.get(folder, ""),
               SWARM_RUN_ROOT_SCRIPT="break_down_goal",
               # No routing learned from the parent run: a learned example reorders route's candidates, so
               # the fork's route prompts would differ from the recorded ones and go to the model (by
               # design: a fork replays only byte-identical requests). These tests are about replay.
               SWARM_RETRIEVAL_EXAMPLES_PER_SCRIPT="0")  # the decomposition tree these tests exercise (the default root is solve)
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=scaled(120))


@pytest.fixture(scope="module")
def parent(served):
    """The finished demo run: (folder, url, log, run id, its events)."""
    folder, url, log = served
    done = swarm(folder, url, "run", GOAL, "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["id"]
    events = json.loads(swarm(folder, url, "history", run_id, "--json").stdout)
    return folder, url, log, run_id, events


def calls_of(log: Path, run_id: str) -> list[str]:
    """The nodes of `run_id` whose calls reached the model, in arrival order."""
    keys = [json.loads(line)["call_key"] or "" for line in log.read_text().splitlines()]
    return [k.split("/")[1] for k in keys if k.startswith(run_id + "/")]


def one_error_line(done: subprocess.CompletedProcess, *expected: str) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swarm: error: "), done.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_fork_with_an_edit_asks_the_model_only_downstream_and_diff_shows_only_that(parent):
    folder, url, log, run_id, events = parent
    at = next(e["seq"] for e in events if e["kind"] == "execute_end" and e["node_id"] == "1")
    forked = swarm(folder, url, "fork", run_id, "--at", str(at), "--set", f"1.3.data.goal={PORTO}", "--json")
    assert forked.returncode == 0, forked.stderr
    fork_run = json.loads(forked.stdout)
    assert (fork_run["status"], fork_run["forked_from"], fork_run["forked_at"]) == ("done", run_id, at)

    calls = calls_of(log, fork_run["id"])
    downstream = {"1", "1.4"} | {n["id"] for n in fork_run["nodes"] if n["id"] == "1.3" or n["id"].startswith("1.3.")}
    assert calls and calls[0] == "1.3"  # zero model calls before the edited node
    assert set(calls) <= downstream
    assert not {c for c in calls if c.startswith(("1.1", "1.2"))}

    done = swarm(folder, url, "diff", run_id, fork_run["id"], "--json")
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    differing = {r["id"] for r in d["nodes"] if r["change"] != "same"}
    assert "1.3" in differing and "1.3.1" in differing and differing <= downstream
    assert {r["id"] for r in d["nodes"] if r["id"].startswith(("1.1", "1.2"))} <= {r["id"] for r in d["nodes"] if r["change"] == "same"}
    assert d["b"]["replayed_calls"] > 0 and d["b"]["model_calls"] - d["b"]["replayed_calls"] == len(calls)

    text = swarm(folder, url, "diff", run_id, fork_run["id"])
    assert text.returncode == 0, text.stderr
    assert f"fork of {run_id} at event {at}" in text.stdout
    assert "Porto" in text.stdout and "changed" in text.stdout and "the same" in text.stdout


def test_fork_at_the_last_event_makes_no_model_call_and_ends_with_the_same_result(parent):
    folder, url, log, run_id, events = parent
    forked = swarm(folder, url, "fork", run_id, "--at", str(events[-1]["seq"]))
    assert forked.returncode == 0, forked.stderr
    new_id = next(line.split()[2] for line in forked.stdout.splitlines() if line.startswith("swarm: run "))
    assert calls_of(log, new_id) == []
    assert f"swarm diff {run_id} {new_id}" in forked.stdout
    d = json.loads(swarm(folder, url, "diff", run_id, new_id, "--json").stdout)
    assert d["same_result"] and d["counts"]["changed"] == d["counts"]["added"] == d["counts"]["removed"] == 0


def test_fork_no_run_records_the_fork_for_resume(parent):
    folder, url, log, run_id, events = parent
    at = next(e["seq"] for e in events if e["kind"] == "execute" and e["node_id"] == "1.2")
    forked = swarm(folder, url, "fork", run_id, "--at", str(at), "--no-run", "--json")
    assert forked.returncode == 0, forked.stderr
    new_id = json.loads(forked.stdout)["run"]
    store = store_of(folder)
    assert store.run(new_id)["status"] == "pending"
    store.close()
    resumed = swarm(folder, url, "resume", new_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "done"
    assert calls_of(log, new_id) == []


def test_checkout_prints_the_tree_at_an_event_and_as_json(parent):
    folder, url, _, run_id, events = parent
    at = next(e["seq"] for e in events if e["kind"] == "execute_end" and e["node_id"] == "1")
    text = swarm(folder, url, "checkout", run_id, "--at", str(at))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"run {run_id} at event {at}: execute_end of node 1")
    assert "status then: running (now: done)" in text.stdout
    assert "1.3 route pending" in text.stdout and "1.4" not in text.stdout
    view = json.loads(swarm(folder, url, "checkout", run_id, "--at", str(at), "--json").stdout)
    assert [n["id"] for n in view["nodes"]] == ["1", "1.1", "1.2", "1.3"]
    assert view["events"] == {"first": events[0]["seq"], "last": events[-1]["seq"]}


def test_bad_input_gets_one_clear_error_line_and_a_non_zero_exit(parent):
    folder, url, _, run_id, events = parent
    first, last = events[0]["seq"], events[-1]["seq"]
    at = next(e["seq"] for e in events if e["kind"] == "execute_end" and e["node_id"] == "1")
    runs_before = runs(folder)
    one_error_line(swarm(folder, url, "checkout", "no-such-run", "--at", "3"), "no run 'no-such-run'")
    one_error_line(swarm(folder, url, "fork", "no-such-run", "--at", "3"), "no run 'no-such-run'")
    one_error_line(swarm(folder, url, "diff", run_id, "no-such-run"), "no run 'no-such-run'")
    one_error_line(swarm(folder, url, "checkout", run_id, "--at", str(last + 1000)), f"its events are {first} to {last}")
    one_error_line(swarm(folder, url, "fork", run_id, "--at", str(last + 1000)), f"its events are {first} to {last}")
    one_error_line(swarm(folder, url, "checkout", run_id, "--at", "soon"), "--at must be an event number")
    one_error_line(swarm(folder, url, "checkout", run_id), "required: --at", "swarm checkout --help")
    one_error_line(swarm(folder, url, "fork", run_id), "required: --at", "swarm fork --help")
    one_error_line(swarm(folder, url, "fork", run_id, "--at", str(at), "--set", "1.3.goal=x"), "NODE.data.KEY=VALUE")
    one_error_line(swarm(folder, url, "fork", run_id, "--at", str(at), "--set", "1.3.data.goal"), "NODE.data.KEY=VALUE")
    one_error_line(swarm(folder, url, "fork", run_id, "--at", str(at), "--set", "1.7.data.goal=x"),
                   "no node '1.7' at event", "swarm checkout")
    one_error_line(swarm(folder, url, "fork", run_id, "--at", str(last), "--set", "1.3.data.goal=x"),
                   "had already ended (done)", "fork at an event from")
    assert runs(folder) == runs_before  # a refused fork records nothing


def store_of(folder: Path):
    return open_store(STORES.get(folder) or folder / "swarm.db")


def runs(folder: Path) -> int:
    store = store_of(folder)
    try:
        return len(store.runs(limit=1_000_000))
    finally:
        store.close()


def echo(ctx):
    return {"plan": ctx.data["goal"]}


def test_diff_shows_where_two_long_values_differ_not_the_prefix_they_share(make_engine):
    engine = make_engine(script("echo", echo))
    shared = "A three-day plan that starts at the riverside, walks the old town, eats well and rests often " * 3
    runs = [engine.create_run("trip", script="echo", data={"goal": shared + city}) for city in ("in Lisbon", "in Porto")]
    for run_id in runs:
        asyncio.run(engine.drive(run_id))
    lines = diff_lines(diff(engine.store, *runs), width=100)
    data_a = next(line for line in lines if line.startswith("    data A: "))
    data_b = next(line for line in lines if line.startswith("    data B: "))
    assert "in Lisbon" in data_a and "in Porto" in data_b
    assert len(data_a) <= 112 and data_a != data_b
