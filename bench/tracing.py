"""Tracing benchmark: framework cost per node with tracing off, and on. Prints one JSON line.

    python bench/tracing.py [--nodes 1111] [--repeats 3]

The tree of bench/lifecycle.py (fan-out 10, one call to an instant in-process model per
execution), run with tracing off (the default: a no-op call per node), then on with the spans
made and handed to the SDK's in-memory exporter (a span per run, node and model call);
the best wall time of `repeats` runs of each, per node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lifecycle import FixedLatencyModel, engine, tree_size  # noqa: E402

from swarm.tracing import Tracing  # noqa: E402


def per_node_ms(tmp: Path, name: str, levels: int, traced: bool) -> tuple[float, int]:
    e = engine(tmp, name, FixedLatencyModel(0), concurrency=8)
    spans = None
    if traced:
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        spans = InMemorySpanExporter()
        e.tracing = Tracing(exporter=spans)
    t = time.perf_counter()
    run_id, status = asyncio.run(e.run("bench", script="fan", data={"levels": levels, "fanout": 10}))
    wall = time.perf_counter() - t
    assert status == "done", status
    n = e.store.run(run_id)["nodes"]
    made = len(spans.get_finished_spans()) if spans else 0
    e.close()
    return wall * 1000 / n, made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1111)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    levels = 1
    while tree_size(levels, 10) < args.nodes:
        levels += 1
    out = {"nodes": tree_size(levels, 10)}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        off = [per_node_ms(tmp, f"off{i}", levels, False)[0] for i in range(args.repeats)]
        on = [per_node_ms(tmp, f"on{i}", levels, True) for i in range(args.repeats)]
    out.update(off_ms_per_node=round(min(off), 4), on_ms_per_node=round(min(m for m, _ in on), 4),
               spans_per_run=on[0][1])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
