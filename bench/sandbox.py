"""Sandbox benchmark: what isolation costs per execution. Prints one JSON line.

    python bench/sandbox.py [--runs 50] [--cold 5]

- exec_overhead_ms: median wall time of `Sandbox.run("1+1")` when a warm worker is waiting
  (the pool is let to refill between calls): request, execution, result, over the pipe.
- exec_overhead_p90_ms: the 90th percentile of the same.
- cold_start_ms: median time from starting a fresh worker (bubblewrap + Python + smolagents)
  to the result of `1+1` through it, with no pool.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm.config import SandboxSettings  # noqa: E402
from swarm.sandbox import Sandbox  # noqa: E402


def warm(runs: int) -> list[float]:
    times = []
    with Sandbox(SandboxSettings(pool_size=2)) as sandbox:
        for _ in range(runs):
            sandbox.layer.pool.warm()
            started = time.perf_counter()
            result = sandbox.run("1+1")
            times.append((time.perf_counter() - started) * 1000)
            assert result.output == 2, result
    return times


def cold(runs: int) -> list[float]:
    times = []
    with Sandbox(SandboxSettings(pool_size=0)) as sandbox:
        for _ in range(runs):
            started = time.perf_counter()
            result = sandbox.run("1+1")
            times.append((time.perf_counter() - started) * 1000)
            assert result.output == 2, result
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--cold", type=int, default=5)
    args = p.parse_args()
    w = sorted(warm(args.runs))
    c = cold(args.cold)
    print(json.dumps({
        "exec_overhead_ms": round(statistics.median(w), 2),
        "exec_overhead_p90_ms": round(w[int(len(w) * 0.9) - 1], 2),
        "cold_start_ms": round(statistics.median(c), 1),
        "runs": args.runs,
    }))


if __name__ == "__main__":
    main()
