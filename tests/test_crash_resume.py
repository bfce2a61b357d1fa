"""Crash safety: a `swarm run` killed with SIGKILL at random moments is finished by `swarm resume`,
with the result of an uninterrupted run and no model call paid twice."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifecycle_support import scaled, wait_for
from store_support import raw_rows

from swarm.testing.pytest_plugin import backends

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
               SWARM_RUN_ROOT_SCRIPT="break_down_goal",  # the decomposition tree these tests exercise (the default root is solve)
               SWARM_RUN_WORKSPACES_DIR=str(tmp_path / "workspaces"))  # not beside the checkout's swarm.toml (PostgreSQL)
    # Keyword routing only: every process started here would otherwise load the embedding model
    # (three quarters of a run's CPU time), and these tests start dozens; routing is tested elsewhere.
    env["SWARM_RETRIEVAL_FUSION"] = "bm25"
    return env


@pytest.fixture(params=backends())
def stores(request, tmp_path):
    """Factory: `stores(name)` is the URL of a new store of this test's backend: the SQLite file tmp_path/name,
    or a fresh PostgreSQL database of the session's throwaway cluster (dropped afterwards)."""
    cluster = request.getfixturevalue("throwaway_postgres") if request.param == "postgres" else None
    template = request.getfixturevalue("postgres_template") if cluster else None
    made: list[str] = []

    def new(name: str) -> str:
        if cluster is None:
            return f"sqlite:///{tmp_path / name}"
        made.append(cluster.create_database(template=template))
        return made[-1]

    yield new
    for url in made:
        cluster.drop_database(url)


def env_on(tmp_path: Path, url: str, store_url: str) -> dict:
    """env_for's environment on the store of `store_url`."""
    return {**env_for(tmp_path, url, "unused.db"), "SWARM_STORE_URL": store_url}


def rows(store: str, sql: str, params: tuple = ()) -> list[tuple] | None:
    """The rows of a query on the store's database, from outside swarm; None before the store (or its tables) exists."""
    if store.startswith("sqlite:///") and not Path(store[len("sqlite:///"):]).exists():
        return None
    try:
        return raw_rows(store, sql, params)
    except Exception:  # noqa: BLE001 — not created yet, or its tables not yet (sqlite3's or psycopg's error)
        return None


def finished_result(store: str, run_id: str):
    [(status, result)] = raw_rows(store, "SELECT status, result FROM runs WHERE id=?", (run_id,))
    if store.startswith("sqlite:///"):  # the file is whole after every kill
        assert raw_rows(store, "PRAGMA integrity_check")[0][0] == "ok"
    return status, json.loads(result) if isinstance(result, str) else result


def only_run_id(store: str) -> str | None:
    found = rows(store, "SELECT id FROM runs")
    return found[0][0] if found else None


def recorded_calls(store: str) -> set[str]:
    """Keys of the model calls whose reply the store holds: a resume replays these, never asks again."""
    return {key for (key,) in raw_rows(store, "SELECT key FROM llm_calls WHERE reply IS NOT NULL")}


def event_count(store: str) -> int:
    found = rows(store, "SELECT count(*) FROM events")
    return found[0][0] if found else 0


# Each restart costs an interpreter start-up: a few kills, spread over the whole run. PostgreSQL gets one trial:
# a worker killed on this host is taken over at once and a call is never paid twice on it either (test_leases,
# test_chaos_daemons); here it is the same `swarm run`/`swarm resume` path on the other backend.
TRIALS = {"sqlite": 3, "postgres": 1}
KILLS_PER_TRIAL = 3


@pytest.mark.timeout(scaled(300))  # a dozen `swarm` processes, one after another
def test_killed_runs_resume_to_the_uninterrupted_result_without_paying_twice(tmp_path, model_server, stores):
    url, log = model_server
    # The reference: one run, never interrupted.
    reference_store = stores("reference.db")
    env = env_on(tmp_path, url, reference_store)
    ref = swarm(["run", GOAL], env)
    out, err = ref.communicate(timeout=scaled(60))
    assert ref.returncode == 0, err
    ref_id = only_run_id(reference_store)
    assert finished_result(reference_store, ref_id)[0] == "done"
    reference = finished_result(reference_store, ref_id)[1]
    events_of_a_run = event_count(reference_store)
    trials = TRIALS["sqlite" if reference_store.startswith("sqlite") else "postgres"]

    rng = random.Random(int(os.environ.get("SWARM_CRASH_SEED", time.time())))
    # (when, the calls the store held then): every kill, with what a resume may replay.
    kills: list[tuple[float, set[str]]] = []
    for trial in range(trials):
        store = stores(f"crash{trial}.db")
        env = env_on(tmp_path, url, store)
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


def test_resume_from_an_exported_snapshot_into_a_new_store(tmp_path, model_server, stores):
    url, _ = model_server
    first, second = stores("first.db"), stores("second.db")
    env = env_on(tmp_path, url, first)
    # A run that pauses for a person: its snapshot is exported and resumed elsewhere with the answer.
    proc = swarm(["run", "Should we go?", "--script", "ask_human"], env, stdin=subprocess.DEVNULL)
    out, err = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 3, (out, err)
    run_id = only_run_id(first)
    snap = subprocess.run([sys.executable, "-m", "swarm.cli", "snapshot", run_id, "--out", str(tmp_path / "snaps")],
                          env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(snap).is_file()
    env2 = env_on(tmp_path, url, second)
    res = subprocess.run([sys.executable, "-m", "swarm.cli", "resume", snap, "--answer", "1=yes"],
                         env=env2, capture_output=True, text=True, timeout=scaled(60))
    assert res.returncode == 0, res.stderr
    status, result = finished_result(second, run_id)
    assert status == "done"
    assert result == {"question": "Should we go?", "answer": "yes"}


def test_sigterm_stops_a_run_cleanly_with_a_snapshot_and_resume_finishes_it(tmp_path, model_server, stores):
    url, _ = model_server
    store = stores("term.db")
    env = env_on(tmp_path, url, store)
    proc = swarm(["run", GOAL], env)
    run_id = wait_for(lambda: only_run_id(store), 60, "the run's record")
    wait_for(lambda: (rows(store, "SELECT count(*) FROM events WHERE kind='execute'") or [(0,)])[0][0] >= 2, 60,
             "some work under way")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=scaled(60))
    assert proc.returncode == 130, (out, err)
    assert f"swarm resume {run_id}" in err
    assert raw_rows(store, "SELECT status FROM runs") == [("interrupted",)]
    assert raw_rows(store, "SELECT reason FROM snapshots ORDER BY id DESC LIMIT 1") == [("shutdown",)]
    res = subprocess.run([sys.executable, "-m", "swarm.cli", "resume", run_id], env=env, capture_output=True,
                         text=True, timeout=scaled(120))
    assert res.returncode == 0, res.stderr
    assert finished_result(store, run_id)[0] == "done"
