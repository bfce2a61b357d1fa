"""Wake-ups by LISTEN/NOTIFY on a PostgreSQL store: a cancel, a pause, a person's decision written by another process
(the CLI) reaches the loop that drives the run at once, and a goal submitted to the queue reaches an idle daemon.

Every process here reads the store by itself only every [store].wakeup_poll_s, set to an hour (and the daemon's
lease to an hour, which bounds its look at the queue): within the tests' limits only a notification can explain
what happens. On SQLite nothing is notified; the same requests are read on the loop's tick (tests/test_cancel.py,
tests/test_approvals_cli.py run them on both backends).
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

import pytest

from daemon_support import log_events
from lifecycle_support import scaled, wait_for
from swarm.ports import GOAL_WAKEUPS, RUN_WAKEUPS
from swarm.store import open_store
from swarm.testing.pytest_plugin import postgres_only
from test_cancel import cli, look, node_status, only_run_id, slower_model_server  # noqa: F401  (a fixture)
from test_crash_resume import GOAL, env_for

pytestmark = postgres_only

AN_HOUR = "3600"


@pytest.fixture
def pg_url(throwaway_postgres):
    url = throwaway_postgres.create_database()
    yield url
    throwaway_postgres.drop_database(url)


def deaf_env(tmp_path, model_url: str, store_url: str) -> dict[str, str]:
    """Processes on the PostgreSQL store that look at it by themselves only once an hour."""
    return {**env_for(tmp_path, model_url, "unused.db"), "SWARM_STORE_URL": store_url,
            "SWARM_STORE_WAKEUP_POLL_S": AN_HOUR, "SWARM_STORE_LEASE_TTL_S": AN_HOUR}


def listeners(store_url: str) -> int:
    """How many sessions of the store's database listen for wake-ups now."""
    return look(store_url, lambda s: s.conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'").fetchone()[0])


def start_run(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "swarm.cli", "run", *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@contextmanager
def a_run_under_way(tmp_path, model_url: str, store_url: str, *args: str) -> Iterator[tuple[dict, subprocess.Popen, str]]:
    """A `swarm run GOAL` process on the store (deaf_env: notifications only) and its run's id once recorded;
    the process is killed on the way out."""
    env = deaf_env(tmp_path, model_url, store_url)
    proc = start_run(env, GOAL, *args)
    try:
        yield env, proc, wait_for(lambda: only_run_id(store_url), 60, "the run")
    finally:
        proc.kill()


def test_a_notification_is_delivered_when_its_transaction_commits_and_never_when_it_rolls_back(pg_url):
    listener, writer = open_store(pg_url), open_store(pg_url)
    got: queue.Queue = queue.Queue()
    try:
        unsubscribe = listener.wakeups.subscribe(RUN_WAKEUPS, got.put)
        with pytest.raises(RuntimeError):
            with writer.transaction() as c:
                writer.wakeups.notify(c, RUN_WAKEUPS, "rolled back")
                raise RuntimeError("the write failed")
        with writer.transaction() as c:
            writer.wakeups.notify(c, GOAL_WAKEUPS, "7")  # another channel: not this subscriber's
        with writer.transaction() as c:
            writer.wakeups.notify(c, RUN_WAKEUPS, "run-1")
        # Delivered in commit order: the first to arrive is the committed one, so the rolled-back one never will.
        assert got.get(timeout=scaled(30)) == "run-1"
        assert got.empty() and listener.wakeups.received == 2  # the goal's came too, to nobody subscribed
        unsubscribe()
    finally:
        writer.close()
        listener.close()
    assert listener.wakeups.thread is not None and not listener.wakeups.thread.is_alive()  # closing stops listening


def test_a_cancel_from_the_cli_reaches_the_running_loop_by_notification(tmp_path, slower_model_server, pg_url):
    with a_run_under_way(tmp_path, slower_model_server[0], pg_url) as (env, proc, run_id):
        wait_for(lambda: node_status(pg_url, "1.1") is not None, 60, "the run's first children")
        assert cli(["cancel", run_id], env).returncode == 0
        proc.communicate(timeout=60)
    assert proc.returncode == 1
    [run] = look(pg_url, lambda s: s.runs())
    assert (run["status"], run["stop_reason"]) == ("cancelled", "cancelled by request")


def test_a_node_cancel_from_the_cli_reaches_the_running_loop_by_notification(tmp_path, slower_model_server, pg_url):
    with a_run_under_way(tmp_path, slower_model_server[0], pg_url) as (env, proc, run_id):
        wait_for(lambda: node_status(pg_url, "1.2") in ("running", "waiting"), 60, "node 1.2 under way")
        assert cli(["cancel", run_id, "--node", "1.2"], env).returncode == 0
        wait_for(lambda: node_status(pg_url, "1.2") == "cancelled", 60, "node 1.2 cancelled")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert node_status(pg_url, "1") == "done"


def test_a_pause_and_its_end_from_the_cli_reach_the_running_loop_by_notification(tmp_path, slower_model_server, pg_url):
    with a_run_under_way(tmp_path, slower_model_server[0], pg_url, "--wait") as (env, proc, run_id):
        wait_for(lambda: node_status(pg_url, "1.1") is not None, 60, "the run's first children")
        assert cli(["pause", run_id], env).returncode == 0
        wait_for(lambda: look(pg_url, lambda s: s.run(run_id)["status"]) == "paused", 60, "the run paused")
        assert proc.poll() is None  # the --wait process holds the paused run
        resumed = cli(["resume", run_id], env)
        assert resumed.returncode == 0 and "unpaused" in resumed.stdout, resumed.stderr
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    kinds = [e["kind"] for e in look(pg_url, lambda s: s.events(run_id, states=False))]
    assert kinds.count("paused") == 1 and kinds.count("unpaused") == 1


def test_a_decision_from_the_cli_reaches_the_waiting_loop_by_notification(tmp_path, slower_model_server, pg_url):
    url, _ = slower_model_server
    env = deaf_env(tmp_path, url, pg_url)
    proc = start_run(env, "Which city?", "--script", "ask_human", "--wait")
    try:
        rows = wait_for(lambda: json.loads(cli(["approvals", "--json"], env).stdout or "[]"), 60, "the question")
        assert cli(["approve", str(rows[0]["id"]), "--edit-text", "Porto"], env).returncode == 0
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Porto" in out


def test_a_goal_submitted_to_the_queue_is_taken_by_an_idle_daemon_by_notification(tmp_path, slower_model_server, pg_url):
    url, _ = slower_model_server
    env = deaf_env(tmp_path, url, pg_url)
    log = tmp_path / "daemon.log"
    daemon = subprocess.Popen([sys.executable, "-m", "swarm.cli", "daemon", "--no-folder", "--host-id", "idle",
                               "--log-file", str(log)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: listeners(pg_url), 120, "the daemon listening for wake-ups")
        submitted = cli(["submit", "--queue", "--json", "Plan a weekend in Porto"], env)
        assert submitted.returncode == 0, submitted.stderr
        goal_id = json.loads(submitted.stdout)["goal_id"]
        store = open_store(pg_url)
        try:
            wait_for(lambda: (store.queue.goal(goal_id) or {}).get("state") == "finished", 120, "the goal finished")
            goal = store.queue.goal(goal_id)
        finally:
            store.close()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
    finally:
        daemon.kill()
    assert (goal["outcome"], goal["claimed_by"]) == ("done", "idle")
    [stop] = [e for e in log_events(log) if e["event"] == "daemon_stop"]
    assert stop["wakeups"] >= 1  # the submitted goal's notification (and those of its run's writes)
