"""Four `swarm daemon` processes on one store, under fire: goals submitted to the store's queue and dropped into
one daemon's folder; two daemons killed with `kill -9` at random moments, one frozen (SIGSTOP) past its lease
and woken again (SIGCONT). At the end every goal ended once, no run was driven by two daemons at once (no two
execute_end for one node/round/attempt), every run's history is whole and numbered without gaps, the frozen
daemon's next commit was refused, and no model call recorded before a kill or a freeze was paid again.

The suite runs it with CHAOS_GOALS goals (default 24) on SQLite and on PostgreSQL; `SWARM_CHAOS_GOALS=100`
runs the issue's full size. Timeouts are limits against hangs, scaled by SWARM_TEST_TIMEOUT_SCALE.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from daemon_support import ModelServer, daemon_env, files, log_events, wait_for
from swarm.statuses import RUN_FINAL
from swarm.store import open_store
from timeouts import scaled

GOALS = int(os.environ.get("SWARM_CHAOS_GOALS", "24"))
FOLDER_GOALS = 4  # of them, dropped into the watched folder of daemon 0 (the one never killed)
TTL_S = scaled(2.0)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """The URL of the shared store: an SQLite file, or a database of a throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'swarm.db'}"
        return
    cluster = request.getfixturevalue("throwaway_postgres")
    url = cluster.create_database()
    yield url
    cluster.drop_database(url)


@pytest.fixture
def model(tmp_path):
    server = ModelServer(tmp_path, delay=0.1)
    yield server
    server.stop()


class Daemon:
    """One `swarm daemon --host-id NAME` process and its log."""

    def __init__(self, name: str, tmp_path: Path, env: dict[str, str], folder: Path | None):
        self.name = name
        self.log = tmp_path / f"{name}.log"
        where = ["--folder", str(folder)] if folder else ["--no-folder"]
        self.proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "daemon", *where, "--host-id", name,
                                      "--log-file", str(self.log)], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

    def events(self, kind: str | None = None) -> list[dict]:
        return [e for e in log_events(self.log) if kind is None or e["event"] == kind]


def recorded_calls(store) -> set[str]:
    """Keys of the model calls whose reply the store holds: whoever drives their run next replays them."""
    return {c["key"] for r in store.runs(limit=10_000) for c in store.llm_calls(r["id"]) if c["reply"] is not None}


def stopped(proc: subprocess.Popen) -> None:
    """SIGSTOP the process and wait until every thread of it is stopped (the signal is delivered asynchronously)."""
    proc.send_signal(signal.SIGSTOP)
    tasks = Path(f"/proc/{proc.pid}/task")
    for _ in range(500):
        states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks.iterdir()]
        if all(s in "tT" for s in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {proc.pid} did not stop on SIGSTOP")


def freeze_outside_a_write(proc: subprocess.Popen, url: str) -> None:
    """SIGSTOP the daemon. On SQLite, not while it holds the file's one write lock: a process frozen inside a write
    transaction stalls every other writer until it wakes (README, "Scaling out"), so it is woken and frozen again
    until the lock is free. PostgreSQL ends a session idle in a transaction by itself (after 5 s)."""
    for _ in range(50):
        stopped(proc)
        if not url.startswith("sqlite:///"):
            return
        probe = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0.5)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # it holds the write lock: let it finish that transaction
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.02)
        finally:
            probe.close()
    raise AssertionError("the daemon held the store's write lock every time it was frozen")


def recorded_now(store) -> tuple[float, set[str]]:
    """(a moment, the calls recorded by then): read first, the moment taken after, so that every call in the set
    was asked before the moment and any request for one of them after it is a second payment."""
    recorded = recorded_calls(store)
    return time.time(), recorded


def every(seconds: float, predicate):
    """`predicate`, looked at no more often than every `seconds` (each look reads the store)."""
    def slowly():
        time.sleep(seconds)
        return predicate()
    return slowly


@pytest.mark.timeout(scaled(300 + 6 * GOALS))  # four daemons and a model server, as real processes
def test_four_daemons_share_one_store_through_kills_and_a_freeze(tmp_path, model, store):
    rng = random.Random(int(os.environ.get("SWARM_CRASH_SEED", time.time())))
    env = daemon_env(tmp_path, model.url, max_concurrent_runs=4, settle_ms=200)
    env.update(SWARM_STORE_URL=store, SWARM_STORE_LEASE_TTL_S=str(TTL_S))
    folder = tmp_path / "goals"
    (folder / "inbox").mkdir(parents=True)
    daemons = [Daemon("d0", tmp_path, env, folder)] + [Daemon(f"d{n}", tmp_path, env, None) for n in (1, 2, 3)]
    keep, kill_one, kill_two, freeze = daemons
    try:
        for d in daemons:
            wait_for(lambda d=d: d.events("warm_up"), 120, f"{d.name}'s start")
        shared = open_store(store)

        # The goals: most submitted to the store's queue (one through the CLI), a few dropped into d0's folder.
        cli = subprocess.run([sys.executable, "-m", "swarm.cli", "submit", "--queue", "--json", "Plan goal number 0"],
                             env=env, capture_output=True, text=True, timeout=scaled(60))
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["status"] == "queued"
        def submit(numbers: range) -> None:
            for n in numbers:
                shared.queue.submit("submitted", f"Plan goal number {n}", str(n), f"chaos-{n:03d}",
                                    json.dumps({"goal": f"Plan goal number {n}"}), time.time())

        second_wave = (GOALS - FOLDER_GOALS) // 2  # submitted after the kills: work left for the freeze
        submit(range(1, second_wave))
        for n in range(GOALS - FOLDER_GOALS, GOALS):
            (folder / "inbox" / f"goal{n}.md").write_text(f"Plan goal number {n}")

        moments: list[tuple[float, set[str]]] = []  # a moment, and the calls the store held by then

        def driving(d: Daemon) -> list[str]:
            """Runs this daemon holds the lease of and that have not ended."""
            return [r["id"] for r in shared.runs(limit=10_000)
                    if r["lease_owner"] == d.name and r["status"] not in RUN_FINAL]

        def all_taken_so_far() -> bool:
            """Every goal submitted so far has finished: the others took all the work before this one got any."""
            return all(g["state"] == "finished" for g in shared.goals.goal_rows())

        for victim in (kill_one, kill_two):  # kill -9 at a random moment while it drives runs (or idle, if none was left)
            wait_for(every(0.1, lambda victim=victim: driving(victim) or all_taken_so_far()), 120,
                     f"{victim.name} driving a run")
            time.sleep(rng.uniform(0.0, 0.6))
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(scaled(10))
            moments.append(recorded_now(shared))

        submit(range(second_wave, GOALS - FOLDER_GOALS))
        held = []
        for _ in range(50):  # frozen while it drives a run not yet ended
            wait_for(every(0.1, lambda: driving(freeze)), 120, "d3 driving a run")
            freeze_outside_a_write(freeze.proc, store)
            # A run that ended keeps its lease until its daemon lets go: frozen just between the two, it has
            # nothing left to take over (its goal is closed all the same), so only the unfinished ones count.
            held = driving(freeze)
            if held:
                break
            freeze.proc.send_signal(signal.SIGCONT)
        assert held, "d3 was never frozen while driving an unfinished run"
        moments.append(recorded_now(shared))
        # Frozen past its lease: its runs are taken over by the daemon still alive.
        wait_for(every(0.1, lambda: not set(held) & set(driving(freeze))), 120 + 3 * TTL_S, "d3's runs taken over")
        freeze.proc.send_signal(signal.SIGCONT)

        wait_for(every(0.3, lambda: [g["state"] for g in shared.goals.goal_rows()] == ["finished"] * GOALS),
                 600, "every goal finished")
        wait_for(every(0.1, lambda: freeze.events("lease_lost")), 60, "the frozen daemon's refused commit in its log")
        for d in (keep, freeze):
            d.proc.send_signal(signal.SIGTERM)
        for d in (keep, freeze):
            assert d.proc.wait(scaled(120)) == 0, d.proc.stderr.read()[-2000:]

        # Every goal ended once: finished, done or failed, with one run each; the folder's files filed.
        goals = shared.goals.goal_rows()
        assert len(goals) == GOALS and {g["state"] for g in goals} == {"finished"}
        assert Counter(g["outcome"] for g in goals) == {"done": GOALS}, [g for g in goals if g["outcome"] != "done"]
        runs = shared.runs(limit=10_000)
        assert sorted(r["id"] for r in runs) == sorted(g["run_id"] for g in goals)
        assert files(folder, "processing") == [] and len(files(folder, "done")) == 2 * FOLDER_GOALS
        ends = Counter()
        for d in daemons:
            for e in d.events():
                if e["event"] in ("goal_done", "goal_failed"):
                    ends[e.get("goal_id") or e["file"]] += 1
        assert ends and max(ends.values()) == 1, [k for k, v in ends.items() if v > 1]

        # No run driven by two daemons at once; every history whole, numbered without gaps.
        all_seqs = []
        for run in runs:
            events = shared.events(run["id"], states=False)
            seqs = [e["seq"] for e in events]
            all_seqs += seqs
            assert seqs == sorted(seqs) and seqs[-1] == run["last_event"], run["id"]
            assert events[0]["kind"] == "run_start"
            attempt: dict[str, tuple] = {}
            executed = Counter()
            for e in events:
                detail = json.loads(e["detail"]) if e.get("detail") else {}
                if e["kind"] == "execute":
                    attempt[e["node_id"]] = (detail.get("round"), detail.get("attempt"))
                elif e["kind"] == "execute_end":
                    executed[(e["node_id"], *attempt[e["node_id"]])] += 1
            twice = [k for k, v in executed.items() if v > 1]
            assert not twice, f"run {run['id']}: executions ended twice: {twice}"
        assert sorted(all_seqs) == list(range(1, len(all_seqs) + 1)), "the event numbers have gaps"

        # Leases: the killed and the frozen daemon's runs were taken over after their lease lapsed.
        takeovers = [e for d in (keep, freeze) for e in d.events("run_claimed") if e.get("took_over_from")]
        assert {e["took_over_from"] for e in takeovers} >= {"d3"} and takeovers
        lost = freeze.events("lease_lost")
        assert lost and all(e["commit_rejected"] and "not recorded" in e["error"] for e in lost)
        assert {e["run"] for e in lost} <= set(held)

        # No model call recorded before a kill or the freeze was asked of the model again.
        served = model.served()
        for at, recorded in moments:
            again = [r["call_key"] for r in served if r["received_at"] > at and r["call_key"] in recorded]
            assert not again, f"calls recorded before {at} were paid again: {again[:5]}"
        shared.close()
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                d.proc.send_signal(signal.SIGCONT)
                d.proc.kill()
                d.proc.wait(10)
