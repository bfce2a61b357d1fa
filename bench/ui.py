"""Web UI benchmark: the graph JSON of a 5,000-node run, and a status change's trip to the browser. One JSON line.

    python bench/ui.py [--nodes 5000] [--events 20]

- graph_json_ms_5k: server time to produce the graph JSON (read the nodes, build the graph,
  encode it) of a finished 5,000-node run written straight into a temporary store; median of 5
  (graph_json_cpu_ms_5k: the CPU time of the same, which a loaded machine does not inflate).
  graph_http_ms_5k: the same asked over HTTP on loopback (GET /api/runs/RUN/graph of the REST API:
  Starlette on uvicorn, the read in its thread pool), median of 5.
- charts_json_ms_5k: server time to produce the Stats charts' numbers of the same run (GET /api/stats/charts?run=:
  its nodes' completion times over every round, model calls per time bucket, failures by type), median of 5.
- event_latency_ms: a node's status change committed to the store → the page's EventSource
  handler (server-sent events by sse-starlette on the server's loop) in headless Chromium (Debian's chromium through Playwright), median over --events
  changes written at irregular intervals; event_latency_p95_ms the 95th percentile.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # ui_support: the synthetic run, the Chromium path, a plain HTTP client

import orjson  # noqa: E402

from swarm.config import load_config  # noqa: E402
from swarm.node import TaskNode  # noqa: E402
from swarm.store import Batch, Store  # noqa: E402
from swarm.ui import UIServer, queries  # noqa: E402
from ui_support import chromium_path, request, write_tree_run  # noqa: E402


def graph_ms(store: Store, run_id: str, repeat: int = 5) -> tuple[float, float, int]:
    """Median wall and CPU milliseconds (the CPU time says what a busy machine adds), and the size."""
    times, cpu, size = [], [], 0
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.thread_time()
        body = orjson.dumps(queries.graph(store, run_id))
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        size = len(body)
    return statistics.median(times), statistics.median(cpu), size


def charts_ms(store: Store, run_id: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        orjson.dumps(queries.charts(store, run_id))
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def graph_http_ms(server: UIServer, run_id: str, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        status, graph = request(f"{server.url}api/runs/{run_id}/graph", headers={"X-Swarm-Token": server.token})
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200 and len(graph["nodes"]) > 0
    return statistics.median(times)


def event_latencies(server: UIServer, store: Store, run_id: str, count: int) -> list[float]:
    """Flip a leaf's status `count` times; each change's commit time → the page's handler time."""
    from playwright.sync_api import sync_playwright

    leaf = TaskNode.from_state(next(s for s in store.node_states(run_id) if not s["children"]))
    latencies = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 860})
        page.goto(f"{server.page_url}&run={run_id}")
        page.wait_for_selector('.row[data-node-id="1"]')
        page.wait_for_selector("#conn.up")
        time.sleep(0.5)
        for i in range(count):
            leaf.status = "running" if i % 2 == 0 else "done"
            batch = Batch()
            batch.event(run_id, "execute" if i % 2 == 0 else "terminate", leaf)
            written = time.time()
            seq = store.commit(batch, run_id)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                got = page.evaluate(f"window.swarmEventLog.filter(e => e.seq === {seq}).map(e => e.received_ms)")
                if got:
                    latencies.append(got[0] - written * 1000)
                    break
                time.sleep(0.01)
            else:
                raise SystemExit(f"event {seq} never reached the page")
            time.sleep(random.uniform(0.1, 0.3))  # not in step with the server's polling
        browser.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "swarm.db"
        store = Store(path)
        run_id = write_tree_run(store, nodes=args.nodes)
        ms, cpu_ms, size = graph_ms(store, run_id)
        chart_ms = charts_ms(store, run_id)
        server = UIServer(load_config(env={"SWARM_STORE": str(path)}), host="127.0.0.1", port=0).start()
        try:
            http_ms = graph_http_ms(server, run_id)
            latencies = sorted(event_latencies(server, store, run_id, args.events))
        finally:
            server.close()
            store.close()
    print(json.dumps({
        "graph_json_ms_5k": round(ms, 1),
        "graph_json_cpu_ms_5k": round(cpu_ms, 1),
        "graph_http_ms_5k": round(http_ms, 1),
        "graph_json_kb_5k": round(size / 1024),
        "charts_json_ms_5k": round(chart_ms, 1),
        "event_latency_ms": round(statistics.median(latencies), 1),
        "event_latency_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "events": len(latencies),
        "nodes": args.nodes,
    }))


if __name__ == "__main__":
    main()
