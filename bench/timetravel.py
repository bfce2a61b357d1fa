"""Time-travel benchmark on a run of 11,111 nodes (fan-out 10, four levels). Prints one JSON line.

    python bench/timetravel.py [--levels 4] [--fanout 10]

- run_s: the original run, every call answered by an instant in-process model.
- checkout_ms: `checkout` at an event halfway through the history (nearest snapshot + events).
- fork_ms: `fork` at that event: the new run, its first events and its snapshot recorded.
- fork_drive_s: driving that fork to its end; every model call is replayed from the parent
  (fork_model_calls counts the calls that reached the model: 0 expected).
- diff_ms: `diff` of the run and its fork.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm import NodeScript, hookimpl  # noqa: E402
from swarm.catalogue import Catalogue  # noqa: E402
from swarm.config import Config  # noqa: E402
from swarm.engine import Engine  # noqa: E402
from swarm.model import Reply  # noqa: E402
from swarm.timetravel import checkout, diff, fork  # noqa: E402


class CountingModel:
    """An in-process model that answers at once and counts the calls that reach it."""

    def __init__(self):
        self.calls = 0

    def complete(self, messages, *, schema=None, json=False, call_key=None):
        self.calls += 1
        return Reply(text="ok", model="bench", prompt_tokens=10, completion_tokens=2)


def fan(ctx):
    ctx.llm(f"node {ctx.node_id}")
    if ctx.reports is None and ctx.depth < ctx.data["levels"]:
        return ctx.spawn([ctx.child("fan", levels=ctx.data["levels"], fanout=ctx.data["fanout"])
                          for _ in range(ctx.data["fanout"])])
    return 1 if ctx.reports is None else sum(r.output for r in ctx.reports)


class BenchScripts:
    @hookimpl
    def swarm_node_scripts(self):
        return [NodeScript("fan", "benchmark tree", fan)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--fanout", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config(base_dir=Path(tmp))
        cfg.store.path = str(Path(tmp) / "bench.db")
        cfg.run.max_nodes, cfg.run.max_depth, cfg.run.max_tokens = 1_000_000, 100, 10**12
        catalogue = Catalogue(builtins=False, entry_points=False)
        catalogue.register(BenchScripts())
        model = CountingModel()
        engine = Engine(cfg, catalogue=catalogue, model=model)
        started = time.perf_counter()
        run_id, status = asyncio.run(engine.run("bench", script="fan", data={"levels": args.levels, "fanout": args.fanout}))
        assert status == "done", status
        run_s = time.perf_counter() - started
        first, last = engine.store.event_range(run_id)
        middle = (first + last) // 2

        started = time.perf_counter()
        view = checkout(engine.store, run_id, middle)
        checkout_ms = (time.perf_counter() - started) * 1000

        started = time.perf_counter()
        new_id = fork(engine, run_id, middle)
        fork_ms = (time.perf_counter() - started) * 1000

        before = model.calls
        started = time.perf_counter()
        fork_status = asyncio.run(engine.drive(new_id))
        fork_drive_s = time.perf_counter() - started

        started = time.perf_counter()
        d = diff(engine.store, run_id, new_id)
        diff_ms = (time.perf_counter() - started) * 1000
        engine.close()
    print(json.dumps({
        "nodes": d["a"]["nodes"], "events": last - first + 1, "nodes_at_fork": len(view["nodes"]), "run_s": round(run_s, 2),
        "checkout_ms": round(checkout_ms, 1), "fork_ms": round(fork_ms, 1), "fork_drive_s": round(fork_drive_s, 2),
        "fork_status": fork_status, "fork_model_calls": model.calls - before,
        "fork_same_result": d["same_result"], "diff_ms": round(diff_ms, 1),
    }))


if __name__ == "__main__":
    main()
