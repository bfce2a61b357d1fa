"""Crash safety: a `swarm run` killed with SIGKILL at random moments is finished by `swarm resume`,
with the result of an uninterrupted run and no model call paid twice."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifecycle_support import scaled, wait_for

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_model.jsonl"
GOAL = "Plan a three-day trip to Lisbon"


@pytest.fixture
def model_server(tmp_path):
    """The scripted model in its own process, so it outlives the killed swarm processes."""
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "swarm.testing", "serve", str(DEMO), "--log", str(log), "--delay", "0.04"],
        stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield line.rsplit(" ", 1)[1].strip(), log
    proc.terminate()
    proc.wait(scaled(10))


def swarm(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "swarm.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def env_for(tmp_path: Path, url: str, store: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=url, SWARM_STORE=str(tmp_path / store), SWARM_MODEL="demo-model",
               SWARM_RUN_ROOT_SCRIPT="break_down_goal")  # the decomposition tree these tests exercise (the default root is solve)
    # Keyword routing only: every process started here would otherwise load the embedding model
    # (three quarters of a run's CPU time), and these tests start dozens; routing is tested elsewhere.
    env["SWARM_RETRIEVAL_FUSION"] = "bm25"
    return env


def finished_result(store: Path, run_id: str):
    db = sqlite3.connect(store)
    status, result = db.execute("SELECT status, result FROM runs WHERE id=?", (run_id,)).fetchone()
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    db.close()
    assert integrity == "ok"
    return status, json.loads(result) if result else None


def only_run_id(store: Path) -> str | None:
    if not store.exists():
        return None
    try:
        db = sqlite3.connect(store)
        rows = db.execute("SELECT id FROM runs").fetchall()
        db.close()
    except sqlite3.Error:
        return None
    return rows[0][0] if rows else None


def recorded_calls(store: Path) -> set[str]:
    """Keys of the model calls whose reply the store holds: a resume replays these, never asks again."""
    db = sqlite3.connect(store)
    keys = {key for (key,) in db.execute("SELECT key FROM llm_calls WHERE reply IS NOT NULL")}
    db.close()
    return keys


def event_count(store: Path) -> int:
    try:
        db = sqlite3.connect(store)
        n = db.execute("SELECT count(*) FROM events").fetchone()[0]
        db.close()
    except sqlite3.Error:  # not created yet, or its tables not yet
        return 0
    return n


TRIALS = 3
KILLS_PER_TRIAL = 3  # each restart costs an interpreter start-up: a few kills, spread over the whole run


@pytest.mark.timeout(scaled(300))  # a dozen `swarm` processes, one after another
def test_killed_runs_resume_to_the_uninterrupted_result_without_paying_twice(tmp_path, model_server):
    url, log = model_server
    # The reference: one run, never interrupted.
    env = env_for(tmp_path, url, "reference.db")
    ref = swarm(["run", GOAL], env)
    out, err = ref.communicate(timeout=scaled(60))
    assert ref.returncode == 0, err
    ref_id = only_run_id(tmp_path / "reference.db")
    assert finished_result(tmp_path / "reference.db", ref_id)[0] == "done"
    reference = finished_result(tmp_path / "reference.db", ref_id)[1]
    events_of_a_run = event_count(tmp_path / "reference.db")

    rng = random.Random(int(os.environ.get("SWARM_CRASH_SEED", time.time())))
    # (when, the calls the store held then): every kill, with what a resume may replay.
    kills: list[tuple[float, set[str]]] = []
    for trial in range(TRIALS):
        store = tmp_path / f"crash{trial}.db"
        env = env_for(tmp_path, url, store.name)
        proc = swarm(["run", GOAL], env)
        run_id = None
        # Kill at random moments of the run's progress (once the store holds a random number of its events,
        # plus a few ms to land inside the next step or model call), not of the clock: on a busy machine
        # a clock-timed kill mostly hits the interpreter's start-up. Every restart is a resume; the last
        # one runs to the end.
        for target in sorted(rng.sample(range(1, events_of_a_run), KILLS_PER_TRIAL)):
            wait_for(lambda: proc.poll() is not None or event_count(store) >= target, 60, "the run's progress")
            time.sleep(rng.uniform(0, 0.05))
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait(scaled(10))
            run_id = run_id or only_run_id(store)
            kills.append((time.time(), recorded_calls(store) if run_id else set()))
            if run_id is None:  # killed before the run was even recorded: start it again
                proc = swarm(["run", GOAL], env)
            elif finished_result(store, run_id)[0] == "done":  # killed while it was exiting
                proc = None
                break
            else:
                proc = swarm(["resume", run_id], env)
        if proc is not None:
            out, err = proc.communicate(timeout=scaled(60))
            assert proc.returncode == 0, err
        run_id = run_id or only_run_id(store)
        status, result = finished_result(store, run_id)
        assert status == "done"
        assert result == reference

    # No completed call was paid again: a call the store held at a kill is replayed by every later
    # process, never asked of the model again (one in flight at the kill may be asked again).
    assert kills, "the test never killed a run"
    served = [json.loads(line) for line in log.read_text().splitlines()]
    for killed_at, held in kills:
        again = [r for r in served if r["received_at"] > killed_at and r["call_key"] in held]
        assert not again, f"calls recorded before the kill at {killed_at} were asked again: {again}"


def test_resume_from_an_exported_snapshot_into_a_new_store(tmp_path, model_server):
    url, _ = model_server
    env = env_for(tmp_path, url, "first.db")
    # A run that pauses for a person: its snapshot is exported and resumed elsewhere with the answer.
    proc = swarm(["run", "Should we go?", "--script", "ask_human"], env, stdin=subprocess.DEVNULL)
    out, err = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 3, (out, err)
    run_id = only_run_id(tmp_path / "first.db")
    snap = subprocess.run([sys.executable, "-m", "swarm.cli", "snapshot", run_id, "--out", str(tmp_path / "snaps")],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(snap).is_file()
    env2 = env_for(tmp_path, url, "second.db")
    res = subprocess.run([sys.executable, "-m", "swarm.cli", "resume", snap, "--answer", "1=yes"],
                         env=env2, capture_output=True, text=True, timeout=scaled(60))
    assert res.returncode == 0, res.stderr
    status, result = finished_result(tmp_path / "second.db", run_id)
    assert status == "done"
    assert result == {"question": "Should we go?", "answer": "yes"}


def test_sigterm_stops_a_run_cleanly_with_a_snapshot_and_resume_finishes_it(tmp_path, model_server):
    url, _ = model_server
    env = env_for(tmp_path, url, "term.db")
    proc = swarm(["run", GOAL], env)
    store = tmp_path / "term.db"
    run_id = wait_for(lambda: only_run_id(store), 60, "the run's record")

    def executions() -> int:
        db = sqlite3.connect(store)
        started = db.execute("SELECT count(*) FROM events WHERE kind='execute'").fetchone()[0]
        db.close()
        return started

    wait_for(lambda: executions() >= 2, 60, "some work under way")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130, (out, err)
    assert f"swarm resume {run_id}" in err
    db = sqlite3.connect(store)
    assert db.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    assert db.execute("SELECT reason FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()[0] == "shutdown"
    db.close()
    res = subprocess.run([sys.executable, "-m", "swarm.cli", "resume", run_id], env=env, capture_output=True,
                         text=True, timeout=scaled(120))
    assert res.returncode == 0, res.stderr
    assert finished_result(store, run_id)[0] == "done"
