"""The daemon under fire: 20 goal files (good, bad, one written slowly), `kill -9` twice at random moments,
restart; every file ends in done/ or failed/ with its result or error file, no run twice, no model call paid twice."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import threading
import time

import pytest

from daemon_support import ModelServer, daemon_env, files, log_events, start_daemon, swarm, wait_for
from timeouts import scaled

MAX_GOAL_BYTES = 4000

GOOD = {
    "lisbon.md": "Plan a three-day trip to Lisbon",
    "budget.txt": "Draw up a monthly household budget",
    "garden.md": "Plan a vegetable garden for a small balcony",
    "move.txt": "Organise moving to a new flat",
    "party.md": "Prepare a birthday party for ten children",
    "study.txt": "Make a study plan for a statistics exam",
    "bike.md": "Plan a weekend bicycle tour",
    "kitchen.txt": "Plan the renovation of a small kitchen",
    "run.json": json.dumps({"goal": "Train for a 10 km run in eight weeks", "max_nodes": 60}),
    "books.json": json.dumps({"goal": "Start a neighbourhood book club", "max_cost_usd": 1.0, "max_wall_s": 120}),
    "fair.toml": 'goal = "Organise a school science fair"\nmax_depth = 4\n',
    "cafe.toml": 'goal = "Open a small cafe"\nmax_tokens = 100000\n',
    "wedding.md": "Plan a small wedding in the countryside",
}
SLOW = ("slow.toml", ['goal = "Plan a', ' long hike', ' in the Alps"\n', "max_nodes = 80\n"])  # chunks, written slowly
BAD = {
    "empty.txt": b"",
    "binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
    "broken.toml": b'goal = "Plan a trip\nmax_nodes = 3\n',
    "huge.txt": b"Plan " * (MAX_GOAL_BYTES // 5 + 10),
    "extra.json": b'{"goal": "Plan a trip", "priority": "high"}',
    "latin1.txt": "Plan a trip to Málaga".encode("latin-1"),
}


@pytest.fixture
def model(tmp_path):
    server = ModelServer(tmp_path, delay=0.03)
    yield server
    server.stop()


def drop(inbox, name: str, data: bytes) -> None:
    """Drop a file the way a person's tool might: written in place, in one go."""
    with open(inbox / name, "wb") as f:
        f.write(data)


def write_slowly(inbox, name: str, chunks: list[str]) -> None:
    with open(inbox / name, "w") as f:
        for chunk in chunks:
            f.write(chunk)
            f.flush()
            time.sleep(0.08)  # far less than settle_ms between chunks: the file must not be taken half-written


def runs_running(store) -> int:
    """How many runs the store records as being driven now."""
    if not store.exists():
        return 0
    db = sqlite3.connect(store, timeout=30)
    try:
        return db.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
    except sqlite3.OperationalError:  # the daemon has not made its tables yet
        return 0
    finally:
        db.close()


def recorded_calls(store) -> set[str]:
    """Keys of the model calls whose reply the store holds: a restarted daemon replays these."""
    db = sqlite3.connect(store)
    keys = {key for (key,) in db.execute("SELECT key FROM llm_calls WHERE reply IS NOT NULL")}
    db.close()
    return keys


# SQLite only: this test is about goal files (bad, slow, many) through kills of a folder daemon; kill -9 of daemons
# on a PostgreSQL store, a folder daemon among them, is test_chaos_daemons.
def test_twenty_goals_survive_two_kills_with_no_run_twice_and_no_call_paid_twice(tmp_path, model):
    rng = random.Random(int(os.environ.get("SWARM_CRASH_SEED", time.time())))
    folder = tmp_path / "goals"
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    env = daemon_env(tmp_path, model.url, settle_ms=int(scaled(1000)), max_concurrent_runs=4, max_goal_bytes=MAX_GOAL_BYTES)
    log = tmp_path / "daemon.log"
    for name in list(GOOD)[:3]:  # already waiting when the daemon starts
        drop(inbox, name, GOOD[name].encode())
    daemon = start_daemon(folder, env, log)

    names = list(GOOD)[3:] + list(BAD)
    rng.shuffle(names)
    slow = threading.Thread(target=write_slowly, args=(inbox, *SLOW))
    kills: list[tuple[float, set[str]]] = []  # when, and the calls the store held then
    for i, name in enumerate(names):
        if i == 4:
            slow.start()
        drop(inbox, name, GOOD[name].encode() if name in GOOD else BAD[name])
        time.sleep(rng.uniform(0.0, 0.15))
    slow.join()
    busy_at_kill = []
    for n in range(2):  # kill -9 at a random moment while goals are under way, then start again
        wait_for(lambda: len([e for e in log_events(log) if e["event"] == "daemon_start"]) == n + 1, 60, "the daemon's start")
        # A random moment while goals are under way (measured from their start, not the daemon's: on a busy
        # machine the daemon's own start-up can take longer than any fixed delay).
        # A run under way in the store, not only a file in processing/: a restart then has a run to resume.
        wait_for(lambda: files(folder, "processing") and runs_running(tmp_path / "swarm.db"), 60, "goals under way")
        time.sleep(rng.uniform(0.0, 0.5))
        busy_at_kill.append(files(folder, "processing"))
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(scaled(10))
        kills.append((time.time(), recorded_calls(tmp_path / "swarm.db")))
        daemon = start_daemon(folder, env, log)

    total = len(GOOD) + 1 + len(BAD)
    wait_for(lambda: len(files(folder, "done")) + len(files(folder, "failed")) == 2 * total, 180,
             "every file in done/ or failed/ with its result or error file")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(scaled(60)) == 0, daemon.stderr.read()

    # Every file is somewhere, once, with its side file; nothing is left behind.
    assert files(folder, "inbox") == [] and files(folder, "processing") == []
    done, failed = files(folder, "done"), files(folder, "failed")
    for name in [*GOOD, SLOW[0]]:
        stem = name.rsplit(".", 1)[0]
        assert name in done and f"{stem}.result.md" in done, (name, done, failed)
        assert "- status: done" in (folder / "done" / f"{stem}.result.md").read_text()
    for name in BAD:
        stem = name.rsplit(".", 1)[0]
        assert name in failed and f"{stem}.error.txt" in failed, (name, done, failed)
        assert (folder / "failed" / name).read_bytes() == BAD[name]  # moved, never changed
    assert "unknown key(s) priority" in (folder / "failed" / "extra.error.txt").read_text()
    assert "too large" in (folder / "failed" / "huge.error.txt").read_text()
    # The slow file was read whole, not half-written.
    assert "Plan a long hike in the Alps" in (folder / "done" / "slow.result.md").read_text()

    # One run per good goal: none lost, none twice.
    runs = json.loads(swarm(["runs", "--json"], env).stdout)
    assert len(runs) == len(GOOD) + 1
    assert sorted(r["goal"] for r in runs) == sorted(
        [json.loads(t)["goal"] if n.endswith(".json") else t.split('"')[1] if n.endswith(".toml") else t
         for n, t in GOOD.items()] + ["Plan a long hike in the Alps"])
    assert {r["status"] for r in runs} == {"done"}
    db = sqlite3.connect(tmp_path / "swarm.db")
    assert db.execute("SELECT count(*) FROM goals WHERE state != 'finished'").fetchone()[0] == 0
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()

    # No completed model call was paid again: a call the store held at a kill is replayed by every later
    # daemon, never asked of the model again (one still in flight at the kill may be asked again).
    served = model.served()
    for killed_at, held in kills:
        again = [r for r in served if r["received_at"] > killed_at and r["call_key"] in held]
        assert not again, f"calls recorded before the kill at {killed_at} were asked again: {again}"
    assert any(busy_at_kill), "no kill hit the daemon while goals were in processing/"
    events = log_events(log)
    assert len([e for e in events if e["event"] == "daemon_start"]) == 3
    assert any(e["event"] == "goal_resume" for e in events)  # a restart resumed runs it found in processing/
