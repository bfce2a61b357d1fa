"""Lifecycle benchmark: framework overhead per node, parallel efficiency, resume time. Prints one JSON line.

    python bench/lifecycle.py [--nodes 5000] [--repeats 3] [--only overhead,parallel,resume,resume_cli,live]
                              [--store-url postgresql://USER@HOST:PORT/DB | --store-url throwaway]

The store is an SQLite file in a temporary folder, or (--store-url) a new PostgreSQL database (bench/databases.py):
`throwaway` starts a throwaway cluster for the benchmark (swarm.testing.postgres; Debian's postgresql package),
fsync off; a postgresql:// URL gets a database of the benchmark's own beside it, dropped at the end.
`--store-url` applies to overhead, parallel and resume; resume_cli and live stay on SQLite.

- overhead_ms_per_node: a tree of ~N nodes (fan-out 10) whose every execution makes
  one call to an instant in-process model; wall time / executions, history writes included.
- parallel_efficiency: fan-out 8, three levels below the root (585 nodes), every execution
  (down and up) makes one model call that takes a fixed 200 ms; critical path (7 calls) / wall,
  median of 5 runs (and the worst of them). parallel_efficiency_73: the same with two
  levels below the root (73 nodes, critical path 5 calls), for readers who count depth from 1.
- resume_ms_10k: a run of 10,000 nodes paused at its last node; time for `drive` to load
  it from its snapshot and finish that node.
- resume_cli_ms_10k: the same, as a user meets it: the whole `swarm resume RUN --answer '*=yes'`
  process (imports, configuration, the scripted model's server and client, loading the run, the
  live tree on a pseudo-terminal, the end), median of `--repeats` runs, each on a fresh copy of the store.
- live_ratio: the 11,111-node tree of overhead_ms_per_node run with the live tree of a foreground
  `swarm run` drawing on a pseudo-terminal, against the same run headless (live_ms_per_node,
  headless_ms_per_node: medians of `--repeats` runs of each, taken in turns, after one small run
  not counted); live_cpu_ratio: the same with the process's CPU time, steadier on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from databases import Databases  # noqa: E402
from swarm import NodeScript, hookimpl  # noqa: E402
from swarm.catalogue import Catalogue  # noqa: E402
from swarm.config import Config  # noqa: E402
from swarm.config import load_config  # noqa: E402
from swarm.engine import Engine  # noqa: E402
from swarm.human import PreparedAnswers  # noqa: E402
from swarm.live import LiveTree  # noqa: E402
from swarm.model import Reply  # noqa: E402


class FixedLatencyModel:
    """An in-process model that answers every call after `latency_s` (0 = instantly)."""

    def __init__(self, latency_s: float = 0.0):
        self.latency_s = latency_s

    def complete(self, messages, *, schema=None, json=False, call_key=None, **_):
        if self.latency_s:
            time.sleep(self.latency_s)
        return Reply(text="ok", data={"ok": True} if (schema or json) else None, model="bench", prompt_tokens=10, completion_tokens=2)


def fan(ctx):
    """Spawn `fanout` children until `levels` is reached; on the way up, report how many leaves."""
    ctx.llm(f"node {ctx.node_id}")
    levels, fanout = ctx.data["levels"], ctx.data["fanout"]
    if ctx.reports is None and ctx.depth < levels:
        return ctx.spawn([ctx.child("fan", levels=levels, fanout=fanout, ask=ctx.data.get("ask"))
                          for _ in range(fanout)])
    if ctx.reports is None:
        if ctx.data.get("ask") and ctx.node_id == ctx.data["ask"] and ctx.answer is None:
            return ctx.ask_human("go on?")
        return 1
    return sum(r.output for r in ctx.reports)


class BenchScripts:
    @hookimpl
    def swarm_node_scripts(self):
        return [NodeScript("fan", "benchmark tree", fan)]


STORE_URL = ""  # --store-url: a PostgreSQL database for the engines of overhead, parallel and resume


def engine(tmp: Path, name: str, model, concurrency: int, human=None) -> Engine:
    cfg = Config(base_dir=tmp)
    cfg.store.path = str(tmp / f"{name}.db")
    cfg.store.url = STORE_URL
    cfg.run.concurrency = concurrency
    cfg.run.max_nodes = 1_000_000
    cfg.run.max_depth = 100
    cfg.run.max_tokens = 10**12
    catalogue = Catalogue(builtins=False, entry_points=False)
    catalogue.register(BenchScripts())
    return Engine(cfg, catalogue=catalogue, model=model, human=human)


def tree_size(levels: int, fanout: int) -> int:
    return sum(fanout**d for d in range(levels + 1))


def overhead(tmp: Path, nodes: int) -> dict:
    levels = 1
    while tree_size(levels, 10) < nodes:
        levels += 1
    e = engine(tmp, "overhead", FixedLatencyModel(0), concurrency=8)
    t = time.perf_counter()
    run_id, status = asyncio.run(e.run("bench", script="fan", data={"levels": levels, "fanout": 10}))
    wall = time.perf_counter() - t
    assert status == "done", status
    n = e.store.run(run_id)["nodes"]
    executions = n + (n - 10**levels)  # every inner node runs twice (down and up)
    e.close()
    return {"overhead_ms_per_node": round(wall * 1000 / n, 4), "overhead_ms_per_execution": round(wall * 1000 / executions, 4),
            "overhead_nodes": n}


def efficiency(tmp: Path, repeats: int = 5, levels: int = 3, fanout: int = 8) -> dict:
    """Median of `repeats` runs (one run lasts ~1.5 s, so a single one is at the mercy of the machine)."""
    latency = 0.2
    critical = latency * (2 * levels + 1)
    e = engine(tmp, f"parallel{levels}", FixedLatencyModel(latency), concurrency=tree_size(levels, fanout))
    walls = []
    for _ in range(repeats):
        t = time.perf_counter()
        run_id, status = asyncio.run(e.run("bench", script="fan", data={"levels": levels, "fanout": fanout}))
        walls.append(time.perf_counter() - t)
        assert status == "done", status
    e.close()
    wall = statistics.median(walls)
    return {"parallel_efficiency": round(critical / wall, 4), "parallel_efficiency_worst": round(critical / max(walls), 4),
            "parallel_wall_s": round(wall, 3), "parallel_nodes": tree_size(levels, fanout)}


def resume(tmp: Path) -> dict:
    levels, fanout = 4, 10  # 11,111 nodes
    last_leaf = ".".join(["1"] + [str(fanout)] * levels)
    e = engine(tmp, "resume", FixedLatencyModel(0), concurrency=8)
    run_id, status = asyncio.run(e.run("bench", script="fan", data={"levels": levels, "fanout": fanout, "ask": last_leaf}))
    assert status == "awaiting_approval", status
    e.close()
    e = engine(tmp, "resume", FixedLatencyModel(0), concurrency=8, human=PreparedAnswers({"*": "yes"}))
    t = time.perf_counter()
    status = asyncio.run(e.drive(run_id))
    wall = time.perf_counter() - t
    assert status == "done", status
    n = e.store.run(run_id)["nodes"]
    e.close()
    return {"resume_ms_10k": round(wall * 1000, 1), "resume_nodes": n}


class PseudoTerminal:
    """A pty whose slave side is a program's terminal; what it receives is read and dropped by another
    process, as a terminal emulator would (a reading thread here would compete for this process's GIL)."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.reader = subprocess.Popen(["cat"], stdin=self.master, stdout=subprocess.DEVNULL)

    def stream(self):
        return open(os.dup(self.slave), "w", encoding="utf-8")


def live(tmp: Path, repeats: int) -> dict:
    """The overhead tree with the live tree drawing on a pty, against headless, in turns."""
    levels = 4  # 11,111 nodes
    terminal = PseudoTerminal()
    os.environ.setdefault("COLUMNS", "120")
    os.environ.setdefault("LINES", "40")
    walls: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}  # CPU time of the process: steadier on a busy machine
    warm = engine(tmp, "live-warm-up", FixedLatencyModel(0), concurrency=8)  # what a process does once, not counted
    asyncio.run(warm.run("bench", script="fan", data={"levels": 2, "fanout": 10}, observers=[LiveTree(terminal.stream())]))
    warm.close()
    for i in range(repeats):
        for drawn in ((False, True) if i % 2 == 0 else (True, False)):
            e = engine(tmp, f"live{i}{drawn}", FixedLatencyModel(0), concurrency=8)
            stream = terminal.stream() if drawn else None
            observers = [LiveTree(stream)] if drawn else []
            t, cpu = time.perf_counter(), time.process_time()
            run_id, status = asyncio.run(e.run("bench", script="fan", data={"levels": levels, "fanout": 10},
                                               observers=observers))
            nodes = e.store.run(run_id)["nodes"]
            walls[drawn].append((time.perf_counter() - t) / nodes)
            cpus[drawn].append((time.process_time() - cpu) / nodes)
            assert status == "done", status
            if stream:
                stream.close()
            e.close()
    head, drawn = statistics.median(walls[False]), statistics.median(walls[True])
    head_cpu, drawn_cpu = statistics.median(cpus[False]), statistics.median(cpus[True])
    return {"live_ms_per_node": round(drawn * 1000, 4), "headless_ms_per_node": round(head * 1000, 4),
            "live_ratio": round(drawn / head, 3), "live_cpu_ratio": round(drawn_cpu / head_cpu, 3)}


PLUGIN = '''
from swarm import NodeScript, hookimpl


def fan(ctx):
    ctx.llm(f"node {ctx.node_id}")
    levels, fanout = ctx.data["levels"], ctx.data["fanout"]
    if ctx.reports is None and ctx.depth < levels:
        return ctx.spawn([ctx.child("fan", levels=levels, fanout=fanout, ask=ctx.data.get("ask")) for _ in range(fanout)])
    if ctx.reports is None:
        if ctx.data.get("ask") and ctx.node_id == ctx.data["ask"] and ctx.answer is None:
            return ctx.ask_human("go on?")
        return 1
    return sum(r.output for r in ctx.reports)


@hookimpl
def swarm_node_scripts():
    return [NodeScript("fan", "benchmark tree", fan)]
'''

CLI_CONFIG = '''
[model]
model = "scripted:model.jsonl"
[run]
concurrency = 8
max_nodes = 1000000
max_depth = 100
max_tokens = 1000000000000
[store]
path = "swarm.db"
[toolsmith]
plugins_folder = "plugins"
'''


def resume_cli(tmp: Path, repeats: int) -> dict:
    """`swarm resume` as a whole process on a pty, the run paused at its last leaf (11,111 nodes)."""
    levels, fanout = 4, 10
    last_leaf = ".".join(["1"] + [str(fanout)] * levels)
    made = tmp / "cli-made"
    (made / "plugins").mkdir(parents=True)
    (made / "plugins" / "bench_fan.py").write_text(PLUGIN)
    (made / "model.jsonl").write_text(json.dumps({"reply": "ok", "repeat": True}) + "\n")
    (made / "swarm.toml").write_text(CLI_CONFIG)
    # Made in this process with the instant model; the run records the scripted one, which the resume starts.
    e = Engine(load_config(str(made / "swarm.toml"), env={}), model=FixedLatencyModel(0))
    run_id, status = asyncio.run(e.run("bench", script="fan", data={"levels": levels, "fanout": fanout, "ask": last_leaf}))
    assert status == "awaiting_approval", status
    e.close()
    swarm = Path(sys.executable).with_name("swarm")
    command = [str(swarm), "--config", "swarm.toml", "resume", run_id, "--answer", "*=yes"]
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "SWARM_CONFIG": ""}
    terminal = PseudoTerminal()
    walls = []
    for i in range(repeats):
        where = tmp / f"cli-{i}"
        shutil.copytree(made, where)
        out = terminal.stream()
        t = time.perf_counter()
        code = subprocess.run(command, cwd=where, stdout=out, stderr=out, stdin=subprocess.DEVNULL, env=env).returncode
        walls.append(time.perf_counter() - t)
        out.close()
        assert code == 0, f"swarm resume exited {code}"
        shutil.rmtree(where)
    return {"resume_cli_ms_10k": round(statistics.median(walls) * 1000, 1),
            "resume_cli_ms_10k_all": [round(w * 1000) for w in walls]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind for live_ratio and resume_cli_ms_10k")
    parser.add_argument("--only", help="comma-separated parts: overhead, parallel, resume, resume_cli, live")
    parser.add_argument("--store-url", default="", help="a postgresql:// store URL, or `throwaway` (a cluster of its own)")
    args = parser.parse_args()
    parts = set((args.only or "overhead,parallel,resume,resume_cli,live").split(","))
    global STORE_URL
    with Databases(args.store_url) as databases:  # a new database (a throwaway cluster's, or beside the URL's)
        STORE_URL = databases.fresh()
        try:
            measure(args, parts)
        finally:
            databases.drop(STORE_URL)


def measure(args, parts: set[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out = {}
        if "overhead" in parts:
            out.update(overhead(tmp, args.nodes))
        if "parallel" in parts:
            out.update(efficiency(tmp))
            shallow = efficiency(tmp, levels=2)  # the same fan-out counting the root as depth 1: 73 nodes
            out.update(parallel_efficiency_73=shallow["parallel_efficiency"])
        if "resume" in parts:
            out.update(resume(tmp))
        if "resume_cli" in parts:
            out.update(resume_cli(tmp, args.repeats))
        if "live" in parts:
            out.update(live(tmp, args.repeats))
    out["store"] = "postgres" if STORE_URL else "sqlite"  # as bench/scale.py, daemon.py and scaleout.py say it
    print(json.dumps(out))


if __name__ == "__main__":
    main()
