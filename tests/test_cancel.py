"""Cancelling from another process: a whole run, or one node and its subtree."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from lifecycle_support import wait_for
from test_crash_resume import DEMO, GOAL, env_for, only_run_id


@pytest.fixture
def model_server(tmp_path):
    """A slow scripted model in its own process: slow enough to cancel things mid-run."""
    proc = subprocess.Popen([sys.executable, "-m", "swarm.testing", "serve", str(DEMO), "--delay", "0.4"],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield line.rsplit(" ", 1)[1].strip(), None
    proc.terminate()
    proc.wait(10)


def node_status(store, node_id):
    db = sqlite3.connect(store)
    row = db.execute("SELECT status FROM nodes WHERE id=?", (node_id,)).fetchone()
    db.close()
    return row[0] if row else None


def cli(args, env):
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], env=env, capture_output=True, text=True, timeout=60)


def test_cancel_node_from_another_process_cancels_its_subtree_and_the_run_goes_on(tmp_path, model_server):
    url, _ = model_server
    env = env_for(tmp_path, url, "c.db")
    store = tmp_path / "c.db"
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "run", GOAL], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_id = wait_for(lambda: only_run_id(store))
    wait_for(lambda: node_status(store, "1.2") in ("running", "waiting"))
    res = cli(["cancel", run_id, "--node", "1.2"], env)
    assert res.returncode == 0, res.stderr
    assert "cancel requested" in res.stdout
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert node_status(store, "1.2") == "cancelled"
    assert node_status(store, "1") == "done"  # the parent heard of the cancel and went on


def test_cancel_run_from_another_process_stops_it(tmp_path, model_server):
    url, _ = model_server
    env = env_for(tmp_path, url, "r.db")
    store = tmp_path / "r.db"
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "run", GOAL], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_id = wait_for(lambda: only_run_id(store))
    wait_for(lambda: node_status(store, "1.1") is not None)
    assert cli(["cancel", run_id], env).returncode == 0
    proc.communicate(timeout=60)
    assert proc.returncode == 1
    db = sqlite3.connect(store)
    assert db.execute("SELECT status, stop_reason FROM runs").fetchone() == ("cancelled", "cancelled by request")
    assert db.execute("SELECT count(*) FROM nodes WHERE status NOT IN ('done','failed','cancelled')").fetchone()[0] == 0
    db.close()


def test_cancel_node_of_a_run_nobody_drives_waits_for_resume(tmp_path, model_server):
    url, _ = model_server
    env = env_for(tmp_path, url, "p.db")
    res = cli(["run", "Should we go?", "--script", "ask_human"], env)
    assert res.returncode == 3
    run_id = only_run_id(tmp_path / "p.db")
    res = cli(["cancel", run_id, "--node", "1"], env)
    assert res.returncode == 0 and "takes effect when the run is resumed" in res.stdout
    res = cli(["cancel", run_id, "--node", "9.9"], env)
    assert res.returncode == 2 and "has no node '9.9'" in res.stderr
