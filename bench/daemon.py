"""Benchmark of `swarm daemon` with the instant scripted model: intake latency and throughput; prints one JSON line.

- intake_ms: median time from a goal file written into inbox/ (closed) to its run's root node
  starting to execute, one goal at a time on an idle daemon ([daemon].settle_ms included);
- goals_per_min: a batch of goals dropped at once, all done, per minute (demo goals: 9 nodes each,
  one of them sandboxed Python), under the default [daemon].max_concurrent_runs;
- cpu_s_per_goal: CPU seconds (user + system) the daemon and every process under it (the sandbox's
  bubblewrap, its template and workers, live or already reaped) spent during the batch, per goal;
  daemon_cpu_s_per_goal / sandbox_cpu_s_per_goal split it between the daemon process and the rest;
- idle_cpu_pct: after the batch (and `--idle-s` / 5 seconds to settle), the CPU the daemon and everything
  under it spent over `--idle-s` seconds with nothing to do, as a share of one core (idle_daemon_cpu_pct: the
  daemon process alone; it serves the scripted model from a thread of its own, which a real endpoint does not).

The measurements run twice in one invocation, first with [sandbox].template = false (a fresh
worker per execution, as before the template) and then with the default (the template); the
second daemon's figures are the main keys, the first one's carry the suffix `_one_shot`, and
`speedup` is the ratio of goals_per_min. --no-compare runs only the second.

The store is an SQLite file in the daemon's temporary folder, or (--store-url) a PostgreSQL database, given to
the daemon as SWARM_STORE_URL: `throwaway` starts a throwaway cluster for the benchmark (swarm.testing.postgres;
Debian's postgresql package), fsync off; a URL names a server where the benchmark may CREATE DATABASE. Each
daemon gets a new database of its own, dropped afterwards (bench/databases.py). `store` in the output says
which: "sqlite" or "postgres". The benchmark reads the times of intake from the store as the daemon writes them.

    python bench/daemon.py [--samples 15] [--batch 40] [--no-compare]
                           [--store-url postgresql://USER@HOST:PORT/DB | --store-url throwaway]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cpu_meter import CpuMeter, own_cpu_s  # noqa: E402
from databases import Databases  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_model.jsonl"


class StoreReader:
    """The daemon's store read from outside: the SQLite file read-only (a connection per query, as a reader that
    holds none), or the PostgreSQL database on one connection of the benchmark's own."""

    def __init__(self, db: Path, url: str):
        self.db, self.conn = db, None
        if url:
            import psycopg

            self.errors: tuple = (psycopg.Error,)
            self.conn = psycopg.connect(url, autocommit=True)
        else:
            self.errors = (sqlite3.Error,)

    def one(self, sql: str, params: tuple) -> tuple | None:
        if self.conn is not None:
            return self.conn.execute(sql.replace("?", "%s"), params).fetchone()
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql, params).fetchone()
        finally:
            conn.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def stages(store: StoreReader, goal: str) -> dict[str, float]:
    """When the daemon took the file and when it created the run, for the breakdown of intake."""
    run_id, created = store.one("SELECT id, created_at FROM runs WHERE goal=?", (goal,))
    claimed = store.one("SELECT claimed_at FROM goals WHERE run_id=?", (run_id,))[0]
    return {"claimed": claimed, "created": created}


def started_at(store: StoreReader, goal: str) -> float | None:
    """When the root node of the run of this goal started executing, or None if not yet."""
    try:
        row = store.one(
            "SELECT min(e.at) FROM events e JOIN runs r ON r.id = e.run_id WHERE r.goal=? AND e.kind='execute'", (goal,))
        return row[0]
    except store.errors:
        return None


def wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    raise SystemExit(f"bench/daemon.py: timed out waiting for {what}")


def done_count(folder: Path) -> int:
    return sum(1 for p in (folder / "done").glob("*.result.md"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--idle-s", type=float, default=10.0, help="how long the idle daemon is measured")
    parser.add_argument("--no-compare", action="store_true", help="skip the first daemon, the one with [sandbox].template = false")
    parser.add_argument("--store-url", default="", metavar="URL",
                        help="a postgresql:// server to make each daemon's database on, or `throwaway` (a cluster of its own)")
    args = parser.parse_args()
    with Databases(args.store_url) as databases:
        if args.no_compare:
            print(json.dumps(measure(args, {}, databases)))
            return
        before = measure(args, {"SWARM_SANDBOX_TEMPLATE": "false"}, databases)
        after = measure(args, {}, databases)
    same = ("batch", "settle_ms", "max_concurrent_runs", "store")
    out = {**after, **{f"{k}_one_shot": v for k, v in before.items() if k not in same}}
    out["speedup"] = round(after["goals_per_min"] / before["goals_per_min"], 2)
    print(json.dumps(out))


def measure(args, extra_env: dict[str, str], databases: Databases) -> dict:
    url = databases.fresh()  # "" on SQLite
    try:
        return {**measure_on(args, extra_env, url), "store": databases.kind}
    finally:
        databases.drop(url)


def measure_on(args, extra_env: dict[str, str], url: str) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="swarm-bench-daemon-"))
    folder, db = tmp / "goals", tmp / "swarm.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_MODEL=f"scripted:{DEMO}", SWARM_STORE=str(db), SWARM_TOOLSMITH_FOLDER=str(tmp / "generated"),
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""), **extra_env)
    if url:
        env["SWARM_STORE_URL"] = url
    (folder / "inbox").mkdir(parents=True)
    meter = CpuMeter()
    daemon = subprocess.Popen([sys.executable, "-m", "swarm.cli", "daemon", "--folder", str(folder),
                               "--log-file", str(tmp / "daemon.log")], env=env, cwd=tmp, preexec_fn=meter.enter)
    store = StoreReader(db, url)
    try:
        wait(lambda: (folder / "daemon.pid").exists(), 60, "the daemon to start")
        # The first goal pays for the cold start (sandbox workers, routing index); measured apart.
        t0 = time.time()
        (folder / "inbox" / "warmup.txt").write_text("Warm up the swarm")
        wait(lambda: done_count(folder) == 1, 120, "the first goal")
        first_goal_s = time.time() - t0

        intake, taken, created = [], [], []
        for i in range(args.samples):
            goal = f"Plan intake sample {i}"
            dropped = time.time()
            (folder / "inbox" / f"sample{i}.txt").write_text(goal)
            began = wait(lambda: started_at(store, goal), 30, f"sample {i} to start")
            intake.append((began - dropped) * 1000)
            at = stages(store, goal)
            taken.append((at["claimed"] - dropped) * 1000)
            created.append((at["created"] - dropped) * 1000)
            wait(lambda: done_count(folder) == 2 + i, 60, f"sample {i} to finish")

        before = done_count(folder)
        cpu_before = (own_cpu_s(daemon.pid), meter.total_s(daemon.pid))
        t0 = time.time()
        for i in range(args.batch):
            (folder / "inbox" / f"batch{i}.md").write_text(f"Plan batch goal {i}")
        wait(lambda: done_count(folder) == before + args.batch, 600, "the batch")
        batch_s = time.time() - t0
        cpu_after = (own_cpu_s(daemon.pid), meter.total_s(daemon.pid))
        time.sleep(args.idle_s / 5)  # the last runs' ends, snapshots and checkpoints
        idle_before, idle_t0 = (own_cpu_s(daemon.pid), meter.total_s(daemon.pid)), time.time()
        time.sleep(args.idle_s)
        idle_after, idle_s = (own_cpu_s(daemon.pid), meter.total_s(daemon.pid)), time.time() - idle_t0
    finally:
        store.close()
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        lifetime_cpu = meter.total_s(daemon.pid) if meter.group else None
        meter.close()
    intake.sort()
    daemon_cpu = (cpu_after[0] - cpu_before[0]) / args.batch
    all_cpu = (cpu_after[1] - cpu_before[1]) / args.batch
    return {
        "intake_ms": round(statistics.median(intake), 1),
        "intake_ms_p90": round(intake[int(0.9 * (len(intake) - 1))], 1),
        "intake_ms_max": round(intake[-1], 1),
        "taken_ms": round(statistics.median(taken), 1),  # dropped → moved to processing/ and recorded
        "created_ms": round(statistics.median(created), 1),  # dropped → run recorded
        "goals_per_min": round(args.batch / batch_s * 60, 1),
        "cpu_s_per_goal": round(all_cpu, 3),
        "daemon_cpu_s_per_goal": round(daemon_cpu, 3),
        "sandbox_cpu_s_per_goal": round(all_cpu - daemon_cpu, 3),
        "idle_cpu_pct": round((idle_after[1] - idle_before[1]) / idle_s * 100, 2),
        "idle_daemon_cpu_pct": round((idle_after[0] - idle_before[0]) / idle_s * 100, 2),
        "cpu_source": meter.source,
        # the daemon's whole life (start, cold start, samples, batch, stop) per goal
        "lifetime_cpu_s_per_goal": None if lifetime_cpu is None else round(lifetime_cpu / (1 + args.samples + args.batch), 3),
        "batch": args.batch,
        "batch_s": round(batch_s, 2),
        "first_goal_s": round(first_goal_s, 2),
        "settle_ms": 250,
        "max_concurrent_runs": 4,
        "exit_code": daemon.returncode,
    }


if __name__ == "__main__":
    main()
