"""Sandbox benchmark: what isolation costs per execution, with the template and without. Prints one JSON line.

    python bench/sandbox.py [--runs 50] [--cold 5] [--cpu-runs 40]

With the template ([sandbox].template = true, the default):
- exec_overhead_ms: median wall time of `Sandbox.run("1+1")` when a child forked ahead is waiting
  (the pool is let to refill between calls): request, execution, result, over the socket; taking
  turns with the one-shot sandbox's calls.
- exec_overhead_p90_ms: the 90th percentile of the same.
- fork_ms: median time of `1+1` with no child waiting (pool_size 0, the template running):
  fork, new namespaces and workspace, then the execution.
- cold_start_ms: median time from a new Sandbox (no template yet) to the result of `1+1`:
  bubblewrap, Python and smolagents imported once, a fork.
- cpu_ms_per_exec: CPU milliseconds (user + system) of everything the sandbox ran, per execution,
  in a stream of executions through a pool of 2 (a cgroup counts processes however they end;
  `cpu_source` says if it fell back to the live process tree).
The same keys with the suffix `_one_shot` are measured in the same run with [sandbox].template = false
(a worker per execution that imports Python and smolagents itself).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_meter import CpuMeter  # noqa: E402
from swarm.config import SandboxSettings  # noqa: E402
from swarm.sandbox import Sandbox  # noqa: E402


def timed(sandbox: Sandbox) -> float:
    started = time.perf_counter()
    result = sandbox.run("1+1")
    elapsed = (time.perf_counter() - started) * 1000
    assert result.output == 2, result
    return elapsed


def warm(runs: int) -> dict[bool, list[float]]:
    """Warm executions, template and one-shot taking turns, so a busy machine weighs on both alike."""
    times: dict[bool, list[float]] = {False: [], True: []}
    with Sandbox(SandboxSettings(pool_size=2, template=False)) as one_shot, Sandbox(SandboxSettings(pool_size=2)) as template:
        for _ in range(runs):
            for kind, sandbox in ((False, one_shot), (True, template)):
                one_shot.layer.pool.warm()
                template.layer.pool.warm()
                times[kind].append(timed(sandbox))
    return {kind: sorted(t) for kind, t in times.items()}


def forked(runs: int) -> list[float]:
    with Sandbox(SandboxSettings(pool_size=0, template=True)) as sandbox:
        timed(sandbox)  # starts the template
        return sorted(timed(sandbox) for _ in range(runs))


def cold(runs: int, template: bool) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        with Sandbox(SandboxSettings(pool_size=0, template=template)) as sandbox:
            timed(sandbox)
            times.append((time.perf_counter() - started) * 1000)
    return times


def cpu_per_exec(runs: int, template: bool, meter: CpuMeter) -> float:
    """CPU ms per execution in a steady stream; the pool's start (and its template's) is left out."""
    with Sandbox(SandboxSettings(pool_size=2, template=template)) as sandbox:
        sandbox.layer.pool.warm()
        before = meter.total_s(os.getpid())
        for _ in range(runs):
            timed(sandbox)
        sandbox.layer.pool.warm()  # the replacements started meanwhile are part of the cost
        return (meter.total_s(os.getpid()) - before) * 1000 / runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--cold", type=int, default=5)
    p.add_argument("--cpu-runs", type=int, default=40)
    args = p.parse_args()
    meter = CpuMeter()
    meter.enter()
    try:
        out = {}
        both = warm(args.runs)
        for template, suffix in ((False, "_one_shot"), (True, "")):
            w = both[template]
            out[f"exec_overhead_ms{suffix}"] = round(statistics.median(w), 2)
            out[f"exec_overhead_p90_ms{suffix}"] = round(w[int(len(w) * 0.9) - 1], 2)
            out[f"cold_start_ms{suffix}"] = round(statistics.median(cold(args.cold, template)), 1)
            out[f"cpu_ms_per_exec{suffix}"] = round(cpu_per_exec(args.cpu_runs, template, meter), 1)
        out["fork_ms"] = round(statistics.median(forked(args.runs)), 2)
    finally:
        meter.leave()
        meter.close()
    print(json.dumps({**out, "cpu_source": meter.source, "runs": args.runs, "cold_runs": args.cold, "cpu_runs": args.cpu_runs}))


if __name__ == "__main__":
    main()
