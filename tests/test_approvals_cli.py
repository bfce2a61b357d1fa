"""People decide from another process: `swarm approvals`, `swarm approve [--edit]`, `swarm reject`, `swarm pause`,
`swarm resume`, as real subprocesses, while a run is driven elsewhere with wait_for_people."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifecycle_support import ask_model, make_engine, result, script  # noqa: F401
from swarm import approvals
from test_approvals import Driver, plan, wait_for
from test_cancel import slower_model_server  # noqa: F401  (a fixture: the demo model, 1 s a reply)
from test_crash_resume import GOAL, env_for


both_backends = pytest.mark.usefixtures("store_url")  # the test runs on SQLite and on PostgreSQL


def cli_env(store: Path, url: str = "", **extra: str) -> dict[str, str]:
    """The CLI's environment on the store file `store`, or on the store of `url` (a PostgreSQL database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_", "EDITOR", "VISUAL"))}
    env.update(SWARM_STORE=str(store), SWARM_STORE_URL=url, SWARM_RUN_ROOT_SCRIPT="break_down_goal", **extra)  # the decomposition tree these tests exercise (the default root is solve)
    return env


def swarm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], env=env, capture_output=True, text=True, timeout=60)


@both_backends
def test_approve_edit_and_reject_from_another_process_while_another_run_finishes(make_engine, tmp_path):
    engine = make_engine(script("plan", plan), script("ask_model", ask_model),
                         model=[{"match": "capital", "reply": "Paris", "delay_s": 0.3}])
    trip = engine.create_run("plan a trip", script="plan")
    other = engine.create_run("capital", script="ask_model", data={"question": "capital of France?"})
    driver = Driver(engine, trip, other)
    env = cli_env(tmp_path / "swarm.db", engine.config.store.url, EDITOR="sed -i s/3/5/")  # an editor a test can run

    wait_for(lambda: len(approvals.pending(engine.store, trip)) == 3)
    wait_for(lambda: driver.statuses.get(other) == "done")  # the other run went on meanwhile
    listed = swarm(env, "approvals", "--run", trip)
    assert listed.returncode == 0, listed.stderr
    assert "Which city?" in listed.stdout and "proposal: Lisbon" in listed.stdout
    city, days, budget = json.loads(swarm(env, "approvals", "--json").stdout)
    assert (city["question"], days["proposal"], budget["kind"]) == ("Which city?", "3 days", "ask_human")

    approved = swarm(env, "approve", str(city["id"]), "--note", "fine by me")
    assert approved.returncode == 0, approved.stderr
    assert f"worker {socket.gethostname()}:{os.getpid()} (lease until" in approved.stdout  # who drives the run
    assert swarm(env, "approve", str(days["id"]), "--edit").returncode == 0
    rejected = swarm(env, "reject", str(budget["id"]), "--reason", "not now")
    assert rejected.returncode == 0, rejected.stderr

    assert driver.join()[trip] == "done"
    assert result(engine, trip) == ["Lisbon", "5 days", "rejected by a person: not now"]
    history = json.loads(swarm(env, "history", trip, "--json").stdout)
    decided = [e["detail"] for e in history if e["kind"] == "approval_decided"]
    assert [(d["decision"], d["edited"], d.get("note"), d.get("reason")) for d in decided] == [
        ("approve", False, "fine by me", None), ("approve", True, None, None), ("reject", False, None, "not now")]
    assert all(d["by"].startswith("cli:") for d in decided)
    assert swarm(env, "history", trip).stdout.count("approval_decided") == 3
    assert json.loads(swarm(env, "approvals", "--json").stdout) == []


@both_backends
def test_bad_decisions_are_refused_with_a_message(make_engine, tmp_path):
    engine = make_engine()
    run_id = engine.create_run("go?", script="ask_human", data={"question": "Go?"})
    assert asyncio.run(engine.drive(run_id)) == "awaiting_approval"
    [request] = approvals.pending(engine.store, run_id)
    env = cli_env(tmp_path / "swarm.db", engine.config.store.url)

    unknown = swarm(env, "approve", "999")
    assert unknown.returncode == 2 and "swarm: error: no approval request '999'" in unknown.stderr
    no_reason = swarm(env, "reject", str(request["id"]))
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    no_editor = swarm(env, "approve", str(request["id"]), "--edit")
    assert no_editor.returncode == 1 and "set EDITOR" in no_editor.stderr
    assert approvals.pending(engine.store, run_id)  # nothing was decided
    assert swarm(env, "approve", str(request["id"]), "--edit-text", "go").returncode == 0
    twice = swarm(env, "reject", str(request["id"]), "--reason", "late")
    assert twice.returncode == 2 and "already approved" in twice.stderr


@both_backends
def test_swarm_run_wait_takes_a_decision_from_another_terminal(tmp_path, store_url):
    env = cli_env(tmp_path / "swarm.db", store_url, SWARM_MODEL=f"scripted:{Path(__file__).parent.parent / 'examples' / 'demo_model.jsonl'}")
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "run", "Which city?", "--script", "ask_human", "--wait"],
                            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rows = wait_for(lambda: json.loads(swarm(env, "approvals", "--json").stdout or "[]"), timeout=30)
        assert swarm(env, "approve", str(rows[0]["id"]), "--edit-text", "Porto").returncode == 0
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Porto" in out


@both_backends
def test_pause_and_resume_a_run_driven_by_another_process(tmp_path, slower_model_server, any_store, store_url):  # noqa: F811
    # Replies slow enough that the run outlasts the start of the `swarm pause` process on a busy machine.
    url, _ = slower_model_server
    env = {**env_for(tmp_path, url, "p.db"), "SWARM_STORE_URL": store_url}
    store = any_store  # read as another process would, through the store's port
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "run", GOAL, "--wait"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_id = wait_for(lambda: next((r["id"] for r in store.runs()), None))
        wait_for(lambda: any(n["id"].startswith("1.") for n in store.node_states(run_id)))
        paused = swarm(env, "pause", run_id)
        assert paused.returncode == 0 and "pause requested" in paused.stdout, paused.stderr
        wait_for(lambda: store.run(run_id)["status"] == "paused")
        wait_for(lambda: not any(n["status"] == "running" for n in store.node_states(run_id)))
        executions = kinds(store, run_id).count("execute")
        wait_for(lambda: proc.poll() is None and "paused" in kinds(store, run_id))
        time.sleep(1.0)
        assert kinds(store, run_id).count("execute") == executions  # nothing new started
        assert proc.poll() is None  # the --wait process holds the paused run

        resumed = swarm(env, "resume", run_id)
        assert resumed.returncode == 0 and "unpaused" in resumed.stdout, resumed.stderr
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert store.run(run_id)["status"] == "done"
    assert kinds(store, run_id).count("unpaused") == 1


def kinds(store, run_id: str) -> list[str]:
    """The kinds of the run's events, in order."""
    return [e["kind"] for e in store.events(run_id)]


@both_backends
def test_on_a_terminal_swarm_run_asks_inline_and_yes_approves_the_request(tmp_path, any_store, store_url):
    import pty

    model = tmp_path / "model.jsonl"
    model.write_text(json.dumps({"match": "^Do this", "reply": "```python\nimport os\nos.sep\n```"}) + "\n")
    env = cli_env(tmp_path / "swarm.db", store_url, SWARM_APPROVALS_NON_DEFAULT_IMPORTS="true",
                  SWARM_MODEL=f"scripted:{model}")
    main, child = pty.openpty()  # stdin is a terminal: the question is asked inline
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "run", "Say the path separator", "--script", "act", "--json"],
                            env=env, stdin=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(child)
    try:
        wait_for(lambda: any_store.approvals(), timeout=30)
        os.write(main, b"yes\n")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        os.close(main)
    assert proc.returncode == 0, err
    assert "asks to import os" in err and "Answer yes to approve" in err
    assert json.loads(out)["result"]["result"] == "/"


@both_backends
def test_swarm_pause_of_a_run_nobody_drives_marks_it_paused_and_swarm_resume_drives_it(make_engine, tmp_path):
    engine = make_engine()
    run_id = engine.create_run("go?", script="ask_human", data={"question": "Go?"})
    assert asyncio.run(engine.drive(run_id)) == "awaiting_approval"
    env = cli_env(tmp_path / "swarm.db", engine.config.store.url,
                  SWARM_MODEL="scripted:" + str(Path(__file__).parent.parent / "examples" / "demo_model.jsonl"))

    paused = swarm(env, "pause", run_id)
    assert paused.returncode == 0 and f"run {run_id} paused" in paused.stdout, paused.stderr
    assert engine.store.run(run_id)["status"] == "paused"

    resumed = swarm(env, "resume", run_id, "--answer", "1=yes", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["result"] == {"question": "Go?", "answer": "yes"}
    assert engine.store.run(run_id)["pause_requested"] == 0
