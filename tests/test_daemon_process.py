"""The daemon as a real process: SIGTERM exits 0 with every run resumable, and --detach / stop / status with the pidfile."""

from __future__ import annotations

import json
import os
import signal

import pytest

from swarm.daemon.pidfile import running_pid
from daemon_support import ModelServer, daemon_env, every_line_json, files, log_events, start_daemon, swarm, wait_for
from store_support import raw_rows, rows_or_none, store_for
from timeouts import scaled

from swarm.testing.pytest_plugin import backends


# Drained within the shutdown timeout, or interrupted at it with a model call unanswered. The drain runs on both
# backends (a clean stop gives the run's lease back, and the next start takes the run); the 14-second interrupted
# variant on SQLite only: what it adds is the shutdown timeout, not the store.
CASES = [("sqlite", 0.5, 10, True), ("sqlite", 2.5, 0.1, False), ("postgres", 0.5, 10, True)]


@pytest.mark.parametrize("backend, delay, timeout, nodes_finish", [c for c in CASES if c[0] in backends()])
def test_sigterm_exits_0_and_the_next_start_resumes_the_runs(tmp_path, request, backend, delay, timeout, nodes_finish):
    model = ModelServer(tmp_path, delay)
    try:
        folder, log = tmp_path / "goals", tmp_path / "daemon.log"
        store = store_for(request, backend, tmp_path / "swarm.db")
        env = {**daemon_env(tmp_path, model.url, settle_ms=50, shutdown_timeout_s=timeout), "SWARM_STORE_URL": store}
        (folder / "inbox").mkdir(parents=True)
        (folder / "inbox" / "trip.md").write_text("Plan a trip to Faro")
        daemon = start_daemon(folder, env, log)

        def executing() -> bool:
            found = rows_or_none(store, "SELECT count(*) FROM events WHERE kind='execute'")
            return bool(found) and found[0][0] >= 1

        wait_for(executing, 60, "the root node executing (its model call takes `delay`)")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(scaled(30)) == 0, daemon.stderr.read()
        assert raw_rows(store, "SELECT status FROM runs") == [("interrupted",)]
        assert raw_rows(store, "SELECT reason FROM snapshots ORDER BY id DESC LIMIT 1") == [("shutdown",)]
        [(left_running,)] = raw_rows(store, "SELECT count(*) FROM nodes WHERE status='running'")
        # Drained, or interrupted at the shutdown timeout, with the model call still unanswered.
        assert (left_running == 0) == nodes_finish
        assert files(folder, "processing") == ["trip.md"]
        assert [e["event"] for e in log_events(log)][-1] == "daemon_stop"

        daemon = start_daemon(folder, env, log)
        wait_for(lambda: "trip.result.md" in files(folder, "done"), 120, "the resumed run to finish")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(scaled(30)) == 0
        result = (folder / "done" / "trip.result.md").read_text()
        assert "- status: done\n" in result and "daemon stopping" not in result  # no reason left from the stop
        assert raw_rows(store, "SELECT stop_reason FROM runs") == [(None,)]
        assert len(json.loads(swarm(["runs", "--json"], env).stdout)) == 1
        keys = [r["call_key"] for r in model.served() if r["status"] == 200]
        if nodes_finish:  # the call that finished during the stop was recorded, and replayed, not asked again
            assert len(keys) == len(set(keys)), keys
    finally:
        model.stop()


def test_detach_status_and_stop_with_the_pidfile(tmp_path):
    model = ModelServer(tmp_path, 0.0)
    try:
        folder, pidfile = tmp_path / "goals", tmp_path / "run" / "swarm.pid"
        env = daemon_env(tmp_path, model.url, settle_ms=50, pidfile=pidfile)
        args = ["daemon", "--folder", str(folder)]
        started = swarm([*args, "--detach"], env)
        assert started.returncode == 0, started.stderr
        pid = int(pidfile.read_text())
        assert f"pid {pid}" in started.stdout
        status = json.loads(swarm([*args, "status", "--json"], env).stdout)
        assert status["running"] and status["pid"] == pid
        again = swarm([*args, "--detach"], env)
        assert again.returncode != 0 and "already running" in again.stderr

        (folder / "inbox" / "trip.json").write_text(json.dumps({"goal": "Write a plan for Braga", "script": "write_text"}))
        wait_for(lambda: any(e["event"] == "goal_done" for e in log_events(folder / "daemon.log")), 60,
                 "the goal to be done (its result file is written before the goal_done line)")
        assert "trip.result.md" in files(folder, "done")

        os.kill(pid, signal.SIGKILL)  # a stale pidfile must not block the next start
        wait_for(lambda: running_pid(pidfile) is None, 10, "the killed daemon's lock to go")
        assert pidfile.exists()
        started = swarm([*args, "--detach"], env)
        assert started.returncode == 0, started.stderr
        stopped = swarm([*args, "stop"], env)
        assert stopped.returncode == 0, stopped.stderr
        assert not pidfile.exists()
        status = swarm([*args, "status"], env)
        assert status.returncode == 3 and "not running" in status.stdout
        assert swarm([*args, "stop"], env).returncode != 0
        # The detached daemons' stderr is their log file too: whatever they wrote there is JSON.
        assert {"daemon_start", "goal_done", "daemon_stop"} <= {e["event"] for e in every_line_json(folder / "daemon.log")}
    finally:
        model.stop()


def test_a_sigterm_while_the_daemon_starts_still_stops_it_cleanly(tmp_path):
    folder = tmp_path / "goals"
    env = daemon_env(tmp_path, "http://127.0.0.1:9/v1")
    daemon = start_daemon(folder, env, tmp_path / "daemon.log")
    wait_for(lambda: running_pid(folder / "daemon.pid") is not None, 20, "the pidfile")  # taken before the engine starts
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(scaled(30)) == 0, daemon.stderr.read()
    assert not (folder / "daemon.pid").exists()
    assert [e["event"] for e in log_events(tmp_path / "daemon.log")][-1] == "daemon_stop"
