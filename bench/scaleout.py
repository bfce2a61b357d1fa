"""Benchmark of several `swarm daemon` processes sharing one store; prints one JSON line.

- goals_per_min: a batch of goals submitted to the store's queue at once (`swarm submit --queue`'s path), all
  finished, per minute, with 1, 2 and 4 daemons (`--no-folder --host-id ...`) on a fresh store each time;
  every goal is 10 nodes (break_down_goal: 4 sub-goals routed to write_text, then a review) and every model
  reply takes 200 ms (the scripted model server, one process shared by the daemons);
- scaling_4 = goals_per_min(4) / goals_per_min(1);
- lease_takeover_s: two daemons; the one driving a goal is killed with SIGKILL, and this is the time until the
  other holds the run's lease (it waits for the lease to lapse: [store].lease_ttl_s, given as lease_ttl_s);
- sqlite_goals_per_min_1: one daemon on an SQLite file, for comparison (the default store);
- cores, loadavg before and after, and the CPU seconds the daemons used per goal at each size: on a small
  machine the daemons share its cores, so scaling stops where the CPU runs out.

The batch is 64 goals by default: a daemon drives [daemon].max_concurrent_runs (4) goals at once, so 4 daemons
have 16 slots and 64 goals fill them 4 times over. A batch that is not a multiple of the slots leaves daemons idle
in its last wave and caps the ratio by construction (24 goals: 6 waves for one daemon, 2 for four, so scaling_4
could not pass 3.0 however fast the daemons were).

`--store postgres` (the default when PostgreSQL's server binaries are installed) runs on a throwaway cluster
(swarm.testing.postgres); `--store sqlite` on an SQLite file.

    python bench/scaleout.py [--store sqlite|postgres] [--goals 64] [--ttl 5] [--sizes 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from swarm.store import open_store  # noqa: E402

REPLY_S = 0.2
SUBGOALS = ["Gather the key facts", "Write the first part", "Write the second part", "Write a short summary"]
SCRIPT = [  # a 10-node goal: the root, 4 routes, 4 write_text leaves, one review
    {"match": "^Break this goal down", "repeat": True, "reply": {"subgoals": SUBGOALS, "policy": "all"}},
    {"match": "^Choose the node script", "repeat": True, "reply": {"script": "write_text", "reason": "prose"}},
    {"match": "^Write the text", "repeat": True, "reply": "A paragraph of text."},
    {"match": "^Review these results", "repeat": True, "reply": {"approved": True, "summary": "done", "issues": []}},
    {"repeat": True, "reply": "ok"},
]


class ModelServer:
    def __init__(self, folder: Path):
        script = folder / "model.jsonl"
        script.write_text("\n".join(json.dumps(line) for line in SCRIPT) + "\n")
        self.proc = subprocess.Popen([sys.executable, "-m", "swarm.testing", "serve", str(script), "--delay", str(REPLY_S)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"bench/scaleout.py: the scripted model did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[1].strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def environment(folder: Path, url: str, store: str, ttl: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=url, SWARM_MODEL="bench-model", SWARM_STORE=str(folder / "swarm.db"), SWARM_STORE_URL=store,
               SWARM_STORE_LEASE_TTL_S=str(ttl), SWARM_RUN_ROOT_SCRIPT="break_down_goal", SWARM_MODEL_MAX_RETRIES="0",
               SWARM_TOOLSMITH_FOLDER=str(folder / "generated"), SWARM_RETRIEVAL_FUSION="bm25",
               SWARM_MEMORY_KEEP_RUN_RESULTS="false")
    return env


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a live process and its reaped children, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class Daemons:
    def __init__(self, n: int, folder: Path, env: dict[str, str], tag: str):
        self.logs = [folder / f"{tag}-{i}.log" for i in range(n)]
        self.names = [f"{tag}-{i}" for i in range(n)]
        self.procs = [subprocess.Popen([sys.executable, "-m", "swarm.cli", "daemon", "--no-folder", "--host-id", name,
                                        "--log-file", str(log)], env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL) for name, log in zip(self.names, self.logs)]
        deadline = time.monotonic() + 120
        while not all(log.exists() and '"warm_up"' in log.read_text() for log in self.logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                raise SystemExit(f"bench/scaleout.py: a daemon did not start; see {folder}")
            time.sleep(0.05)

    def cpu_s(self) -> float:
        return sum(cpu_s(p.pid) for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()


def new_store(kind: str, folder: Path, cluster, tag: str) -> str:
    if kind == "postgres":
        return cluster.create_database()
    return f"sqlite:///{folder / f'{tag}.db'}"


def submit(store, goals: int, tag: str) -> list[int]:
    now = time.time()
    return [store.queue.submit("submitted", f"Plan goal {i}", f"{tag}{i}", f"{tag}-{i:04d}",
                               json.dumps({"goal": f"Plan goal {i}"}), now) for i in range(goals)]


def throughput(kind: str, n: int, goals: int, folder: Path, server: ModelServer, cluster, ttl: float) -> dict:
    tag = f"{kind[:2]}{n}"
    url = new_store(kind, folder, cluster, tag)
    store = open_store(url)
    daemons = Daemons(n, folder, environment(folder, server.url, url, ttl), tag)
    try:
        cpu_before = daemons.cpu_s()
        start = time.monotonic()
        submit(store, goals, tag)
        while True:
            rows = store.goals.goal_rows()
            if len(rows) == goals and all(r["state"] == "finished" for r in rows):
                break
            if time.monotonic() - start > 600:
                raise SystemExit(f"bench/scaleout.py: {n} daemon(s) did not finish {goals} goals in 600 s; see {folder}")
            time.sleep(0.05)
        took = time.monotonic() - start
        cpu = daemons.cpu_s() - cpu_before
        done = sum(1 for r in rows if r["outcome"] == "done")
        nodes = [r["nodes"] for r in store.runs(limit=goals)]
    finally:
        daemons.stop()
        store.close()
    return {"goals_per_min": round(goals / took * 60, 1), "seconds": round(took, 2), "done": done,
            "nodes_per_goal": round(sum(nodes) / len(nodes), 1), "cpu_s_per_goal": round(cpu / goals, 3)}


def takeover(kind: str, folder: Path, server: ModelServer, cluster, ttl: float) -> float:
    """Kill -9 the daemon driving a goal; seconds until the other one holds the run's lease."""
    tag = f"{kind[:2]}t"
    url = new_store(kind, folder, cluster, tag)
    store = open_store(url)
    daemons = Daemons(2, folder, environment(folder, server.url, url, ttl), tag)
    try:
        [goal] = submit(store, 1, tag)
        run_id = f"{tag}-0000"
        while not (store.has_run(run_id) and store.run(run_id)["lease_owner"]):
            time.sleep(0.01)
        owner = store.run(run_id)["lease_owner"]
        victim = daemons.procs[daemons.names.index(owner)]
        victim.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        victim.wait(10)
        while True:
            run = store.run(run_id)
            if run["lease_owner"] not in (None, owner) or run["status"] in ("done", "failed", "unmet"):
                break
            if time.monotonic() - killed > 10 * ttl + 60:
                raise SystemExit("bench/scaleout.py: nobody took the killed daemon's run over")
            time.sleep(0.01)
        return round(time.monotonic() - killed, 3)
    finally:
        daemons.stop()
        store.close()


def main() -> None:
    from swarm.testing.postgres import ThrowawayPostgres, server_binaries

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="postgres" if server_binaries() else "sqlite")
    parser.add_argument("--goals", type=int, default=64, help="goals per batch; a multiple of 4 x 4 slots")
    parser.add_argument("--ttl", type=float, default=5.0, help="[store].lease_ttl_s of the daemons")
    parser.add_argument("--sizes", default="1,2,4", help="numbers of daemons to measure")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="swarm-scaleout-") as tmp:
        folder = Path(tmp)
        server = ModelServer(folder)
        cluster = ThrowawayPostgres().start() if args.store == "postgres" else None
        try:
            figures = {n: throughput(args.store, n, args.goals, folder, server, cluster, args.ttl) for n in sizes}
            lease_takeover = takeover(args.store, folder, server, cluster, args.ttl)
            sqlite_1 = figures[1] if args.store == "sqlite" and 1 in figures else \
                throughput("sqlite", 1, args.goals, folder, server, None, args.ttl)
        finally:
            if cluster is not None:
                cluster.stop()
            server.stop()
    gpm = {str(n): f["goals_per_min"] for n, f in figures.items()}
    out = {
        "store": args.store, "goals": args.goals, "reply_ms": int(REPLY_S * 1000), "goals_per_min": gpm,
        "scaling_4": round(figures[4]["goals_per_min"] / figures[1]["goals_per_min"], 2) if {1, 4} <= set(figures) else None,
        "lease_takeover_s": lease_takeover, "lease_ttl_s": args.ttl,
        "sqlite_goals_per_min_1": sqlite_1["goals_per_min"],
        "detail": {str(n): f for n, f in figures.items()}, "sqlite_1": sqlite_1,
        "cores": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
