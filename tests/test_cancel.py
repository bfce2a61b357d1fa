"""Cancelling from another process: a whole run, or one node and its subtree."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lifecycle_support import wait_for
from swarm.store import open_store
from test_crash_resume import DEMO, GOAL, env_for

pytestmark = pytest.mark.usefixtures("store_url")  # every test on SQLite and on PostgreSQL


def serve_demo(delay_s: float):
    proc = subprocess.Popen([sys.executable, "-m", "swarm.testing", "serve", str(DEMO), "--delay", str(delay_s)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on" in line, line
    yield line.rsplit(" ", 1)[1].strip(), None
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def model_server(tmp_path):
    """A slow scripted model in its own process: slow enough to cancel things mid-run."""
    yield from serve_demo(0.4)


@pytest.fixture
def slower_model_server(tmp_path):
    """Slower still: a whole run outlasts the start of the `swarm cancel` process on a busy machine."""
    yield from serve_demo(1.0)


def cli_env(tmp_path, url, store_url):
    """The CLI's environment on the test's store (an SQLite file, or a PostgreSQL database)."""
    return {**env_for(tmp_path, url, "unused.db"), "SWARM_STORE_URL": store_url}


def look(store_url, read):
    store = open_store(store_url)
    try:
        return read(store)
    finally:
        store.close()


def only_run_id(store_url):
    """The id of the one run in the store, once there is one."""
    rows = look(store_url, lambda s: s.runs())
    return rows[0]["id"] if rows else None


def node_status(store_url, node_id):
    """The status of a node of the store's one run (None until it exists)."""
    def status(store):
        runs = store.runs()
        rows = [r for r in store.node_rows(runs[0]["id"], around=node_id, states=False) if r["id"] == node_id] if runs else []
        return rows[0]["status"] if rows else None
    return look(store_url, status)


def cli(args, env):
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], env=env, capture_output=True, text=True, timeout=60)


def test_cancel_node_from_another_process_cancels_its_subtree_and_the_run_goes_on(tmp_path, model_server, store_url):
    url, _ = model_server
    env = cli_env(tmp_path, url, store_url)
    store = store_url
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


def test_cancel_run_from_another_process_stops_it(tmp_path, slower_model_server, store_url):
    url, _ = slower_model_server
    env = cli_env(tmp_path, url, store_url)
    store = store_url
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "run", GOAL], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    run_id = wait_for(lambda: only_run_id(store))
    wait_for(lambda: node_status(store, "1.1") is not None)
    assert cli(["cancel", run_id], env).returncode == 0
    proc.communicate(timeout=60)
    assert proc.returncode == 1
    [run] = look(store, lambda s: s.runs())
    assert (run["status"], run["stop_reason"]) == ("cancelled", "cancelled by request")
    assert {n["status"] for n in look(store, lambda s: s.node_rows(run_id, states=False))} <= {"done", "failed", "cancelled"}


def test_cancel_node_of_a_run_nobody_drives_waits_for_resume(tmp_path, model_server, store_url):
    url, _ = model_server
    env = cli_env(tmp_path, url, store_url)
    res = cli(["run", "Should we go?", "--script", "ask_human"], env)
    assert res.returncode == 3
    run_id = only_run_id(store_url)
    res = cli(["cancel", run_id, "--node", "1"], env)
    assert res.returncode == 0 and "takes effect when the run is resumed" in res.stdout
    res = cli(["cancel", run_id, "--node", "9.9"], env)
    assert res.returncode == 2 and "has no node '9.9'" in res.stderr
