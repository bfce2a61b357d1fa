"""[model].rate_per_s holds for every process on one store together: the token bucket of each model endpoint is a row
of the store (ports.RateBuckets), taken atomically, so two daemons with rate_per_s = R send at most R calls a second
between them on average. The bucket itself on both backends, then two real `swarm daemon` processes on one store
against one scripted model server whose request log says when each call came."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from daemon_support import ModelServer, daemon_env, log_events
from lifecycle_support import wait_for
from swarm.store import open_store

RATE = 4.0  # calls a second, for both daemons together
GOALS = 8


def test_the_stores_bucket_spaces_the_takes_at_its_rate_and_refills_with_time(any_store):
    bucket = any_store.rate_buckets
    # A full bucket (burst 1) lets one call go at once; the next ones wait their turn, half a second apart.
    assert [bucket.take("http://model/v1", 2.0, 1, 1000.0) for _ in range(3)] == [0.0, 0.5, 1.0]
    # Two seconds later the debt of two calls is paid and one token is back (never more than the burst).
    assert bucket.take("http://model/v1", 2.0, 1, 1002.0) == 0.0
    assert bucket.take("http://model/v1", 2.0, 1, 1002.0) == 0.5
    # Another endpoint has a bucket of its own; a clock behind the last take refills nothing.
    assert bucket.take("http://other/v1", 2.0, 1, 1002.0) == 0.0
    assert bucket.take("http://model/v1", 2.0, 1, 1001.0) == 1.0


@pytest.fixture
def model(tmp_path):
    server = ModelServer(tmp_path, delay=0.05)
    yield server
    server.stop()


@pytest.mark.timeout(600)
def test_two_daemons_on_one_store_keep_the_rate_together(tmp_path, model, store_url):
    env = daemon_env(tmp_path, model.url, max_concurrent_runs=4, settle_ms=200)
    env.update(SWARM_STORE_URL=store_url, SWARM_MODEL_RATE_PER_S=str(RATE))
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    daemons = [subprocess.Popen([sys.executable, "-m", "swarm.cli", "daemon", "--no-folder", "--host-id", name,
                                 "--log-file", str(log)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True) for name, log in logs.items()]
    store = open_store(store_url)
    try:
        for log in logs.values():  # both ready before the goals come, so that both take some
            wait_for(lambda log=log: [e for e in log_events(log) if e["event"] == "warm_up"], 120, f"{log.stem}'s start")
        for n in range(GOALS):
            store.queue.submit("submitted", f"Plan goal number {n}", str(n), f"rate-{n:02d}",
                               json.dumps({"goal": f"Plan goal number {n}"}), time.time())
        wait_for(lambda: [g["state"] for g in store.goals.goal_rows()] == ["finished"] * GOALS, 300, "every goal finished")
        goals = store.goals.goal_rows()
    finally:
        store.close()
        for proc in daemons:
            proc.send_signal(signal.SIGTERM)
        for proc in daemons:
            try:
                proc.wait(60)
            finally:
                proc.kill()
    assert {g["outcome"] for g in goals} == {"done"}
    for log in logs.values():  # both daemons drove runs, and so called the model
        assert [e for e in log_events(log) if e["event"] == "run_claimed"], f"{log.stem} drove no run"
    times = sorted(r["received_at"] for r in model.served())
    span = times[-1] - times[0]
    # One call at once (a full bucket), then RATE a second: within the window, no more than the rate allows
    # (with room for the moments a take and the server's arrival are counted at), whereas two buckets of
    # their own would let the two daemons send about twice as many.
    assert len(times) >= 3 * RATE, f"too few calls ({len(times)}) to tell the rates apart"
    assert len(times) - 1 <= RATE * span * 1.15 + 2, (len(times), span)
