"""Crash safety: a `swarm run` killed with SIGKILL at random moments is finished by `swarm resume`,
with the result of an uninterrupted run and no model call paid twice."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
    proc.wait(10)


def swarm(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "swarm.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def env_for(tmp_path: Path, url: str, store: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=url, SWARM_STORE=str(tmp_path / store), SWARM_MODEL="demo-model")
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


def test_killed_runs_resume_to_the_uninterrupted_result_without_paying_twice(tmp_path, model_server):
    url, log = model_server
    # The reference: one run, never interrupted.
    env = env_for(tmp_path, url, "reference.db")
    ref = swarm(["run", GOAL], env)
    out, err = ref.communicate(timeout=60)
    assert ref.returncode == 0, err
    ref_id = only_run_id(tmp_path / "reference.db")
    assert finished_result(tmp_path / "reference.db", ref_id)[0] == "done"
    reference = finished_result(tmp_path / "reference.db", ref_id)[1]

    rng = random.Random(int(os.environ.get("SWARM_CRASH_SEED", time.time())))
    kills: list[float] = []
    for trial in range(4):
        store = tmp_path / f"crash{trial}.db"
        env = env_for(tmp_path, url, store.name)
        proc = swarm(["run", GOAL], env)
        run_id = None
        # Kill at random moments until the run finishes on its own; every restart is a resume.
        for attempt in range(12):
            time.sleep(rng.uniform(0.05, 0.4))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills.append(time.time())
                proc.wait(10)
            elif proc.returncode == 0:
                break
            run_id = run_id or only_run_id(store)
            if run_id is None:  # killed before the run was even recorded: start it again
                proc = swarm(["run", GOAL], env)
                continue
            status, _ = finished_result(store, run_id)
            if status == "done":
                break
            proc = swarm(["resume", run_id], env)
        else:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        run_id = run_id or only_run_id(store)
        status, result = finished_result(store, run_id)
        assert status == "done"
        assert result == reference

    # No call answered well before a kill was made again: a completed call is replayed from the store.
    served: dict[str, list[dict]] = {}
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if rec["status"] == 200 and rec["call_key"]:
            served.setdefault(rec["call_key"], []).append(rec)
    assert kills, "the test never killed a run"
    for key, recs in served.items():
        recs.sort(key=lambda r: r["received_at"])
        for earlier, again in zip(recs, recs[1:]):
            # Repeating is allowed only for a reply that was still in flight when the process died:
            # a kill after the request arrived and at most 50 ms after the reply was sent.
            in_flight_until = min((earlier["responded_at"] or math.inf) + 0.05, again["received_at"])
            assert any(earlier["received_at"] <= k < in_flight_until for k in kills), f"call {key} was paid twice: {recs}, kills at {kills}"


def test_resume_from_an_exported_snapshot_into_a_new_store(tmp_path, model_server):
    url, _ = model_server
    env = env_for(tmp_path, url, "first.db")
    # A run that pauses for a person: its snapshot is exported and resumed elsewhere with the answer.
    proc = swarm(["run", "Should we go?", "--script", "ask_human"], env, stdin=subprocess.DEVNULL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, (out, err)
    run_id = only_run_id(tmp_path / "first.db")
    snap = subprocess.run([sys.executable, "-m", "swarm.cli", "snapshot", run_id, "--out", str(tmp_path / "snaps")],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(snap).is_file()
    env2 = env_for(tmp_path, url, "second.db")
    res = subprocess.run([sys.executable, "-m", "swarm.cli", "resume", snap, "--answer", "1=yes"],
                         env=env2, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    status, result = finished_result(tmp_path / "second.db", run_id)
    assert status == "done"
    assert result == {"question": "Should we go?", "answer": "yes"}


def test_sigterm_stops_a_run_cleanly_with_a_snapshot_and_resume_finishes_it(tmp_path, model_server):
    url, _ = model_server
    env = env_for(tmp_path, url, "term.db")
    proc = swarm(["run", GOAL], env)
    store = tmp_path / "term.db"
    deadline = time.time() + 20
    while time.time() < deadline:  # wait until some work is under way
        run_id = only_run_id(store)
        if run_id:
            db = sqlite3.connect(store)
            started = db.execute("SELECT count(*) FROM events WHERE kind='execute'").fetchone()[0]
            db.close()
            if started >= 2:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, (out, err)
    assert f"swarm resume {run_id}" in err
    db = sqlite3.connect(store)
    assert db.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    assert db.execute("SELECT reason FROM snapshots ORDER BY id DESC LIMIT 1").fetchone()[0] == "shutdown"
    db.close()
    res = subprocess.run([sys.executable, "-m", "swarm.cli", "resume", run_id], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert finished_result(store, run_id)[0] == "done"
