"""The floor under bench/lifecycle.py's parallel_efficiency on this machine; prints one JSON line.

The same tree as parallel_efficiency (fan-out 8, three levels below the root: 585 nodes, every execution
down and up a 200 ms wait, critical path 7 waits = 1.4 s), driven by a bare asyncio loop and a fixed set of
worker threads fed from one queue, as the swarm's are, but with none of the swarm's bookkeeping. Busy work
(a spin on the clock, holding the interpreter lock) can be added per node in the loop and before and
after each wait in the workers, to see what a microsecond of per-node work costs the ratio:

    python bench/gil_floor.py [--loop-us 0] [--pre-us 0] [--post-us 0] [--repeats 9]

Measured on the 2-core machine at load 1-2: 0.975-0.980 bare; 0.950-0.960 with 50 µs in the loop;
0.956 with 25 + 20 + 30 µs; 0.932-0.935 with 50 + 40 + 60 µs, about the swarm's figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import statistics
import threading
import time

LATENCY_S = 0.2
FANOUT = 8
LEVELS = 3
CRITICAL_S = LATENCY_S * (2 * LEVELS + 1)


def busy(us: float) -> None:
    """Hold the interpreter for `us` microseconds."""
    until = time.perf_counter() + us / 1e6
    while time.perf_counter() < until:
        pass


class Floor:
    def __init__(self, loop_us: float, pre_us: float, post_us: float, threads: int = 600):
        self.loop_us, self.pre_us, self.post_us = loop_us, pre_us, post_us
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(threads):
            threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            fn, args = self.tasks.get()
            fn(*args)

    def _execute(self, node: tuple, deliver) -> None:
        busy(self.pre_us)
        time.sleep(LATENCY_S)  # the model call
        busy(self.post_us)
        deliver(node)

    async def run(self) -> None:
        """One tree: a node's children start when it returns; it runs again when the last of them reports."""
        loop = asyncio.get_running_loop()
        inbox: list[tuple] = []
        ready = asyncio.Event()

        def deliver(node: tuple) -> None:
            inbox.append(node)
            loop.call_soon_threadsafe(ready.set)

        waiting: dict[str, int] = {}
        self.tasks.put((self._execute, (("1", 0, False), deliver)))
        while True:
            await ready.wait()
            ready.clear()
            came, inbox[:] = inbox[:], []
            for node_id, depth, up in came:
                busy(self.loop_us)
                if not up and depth < LEVELS:
                    waiting[node_id] = FANOUT
                    for i in range(FANOUT):
                        self.tasks.put((self._execute, ((f"{node_id}.{i}", depth + 1, False), deliver)))
                elif node_id == "1":
                    return
                else:
                    parent = node_id.rsplit(".", 1)[0]
                    waiting[parent] -= 1
                    if waiting[parent] == 0:
                        self.tasks.put((self._execute, ((parent, depth - 1, True), deliver)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-us", type=float, default=0.0, help="busy work per node in the loop")
    parser.add_argument("--pre-us", type=float, default=0.0, help="busy work before each wait, in the worker")
    parser.add_argument("--post-us", type=float, default=0.0, help="busy work after each wait, in the worker")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    floor = Floor(args.loop_us, args.pre_us, args.post_us)
    walls = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        asyncio.run(floor.run())
        walls.append(time.perf_counter() - started)
    print(json.dumps({"floor_efficiency": round(CRITICAL_S / statistics.median(walls), 4),
                      "floor_efficiency_worst": round(CRITICAL_S / max(walls), 4),
                      "loop_us": args.loop_us, "pre_us": args.pre_us, "post_us": args.post_us,
                      "nodes": sum(FANOUT ** d for d in range(LEVELS + 1)), "load": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
