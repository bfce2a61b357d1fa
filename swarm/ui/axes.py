"""The axes of the Stats charts: buckets for a distribution and for a time series, in round numbers.

Pure functions: the store is read by swarm/ui/queries.py (`charts`); the bars are drawn by the page
(app.js, as SVG) from these numbers alone, so what a bar shows is what the API says.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

BUCKETS = 12  # bars a chart has at most (about: round edges may need one more)
MAX_BUCKETS = 60
# Time buckets people read at a glance; past a day, whole days of 1-2-5 steps.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 × 10^k that is at least `raw` (> 0)."""
    power = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw * (1 - 1e-9):
            return _round(m * power)
    return _round(10 * power)


def time_step(raw: float) -> float:
    """A time bucket width in seconds of at least `raw`: 1-2-5 ms below a second, then 1 s … 1 day, then days."""
    if raw < 1:
        return max(nice_step(raw), 0.001)  # finer than a millisecond means nothing at the epoch's magnitude
    for step in TIME_STEPS:
        if step >= raw:
            return float(step)
    return nice_step(raw / 86400) * 86400


def _round(x: float) -> float:
    return float(f"{x:.12g}")  # 0.30000000000000004 -> 0.3: edges that print as they read


def histogram(values: Iterable[float], buckets: int = BUCKETS) -> dict[str, Any]:
    """How many values fall in each bucket of equal width from 0: `edges` (one more than `counts`),
    bucket i holding edges[i] <= v < edges[i+1] (the last one also its upper edge)."""
    values = [max(0.0, float(v)) for v in values]
    if not values:
        return {"count": 0, "edges": [], "counts": []}
    top = max(values)
    width = nice_step(top / buckets) if top > 0 else 0.001
    n = max(1, math.ceil(top / width - 1e-9))
    counts = [0] * n
    for v in values:
        counts[min(int(v / width), n - 1)] += 1
    return {"count": len(values), "edges": [_round(i * width) for i in range(n + 1)], "counts": counts}


def time_axis(first: float, last: float, buckets: int = BUCKETS) -> tuple[float, float, int]:
    """(start, width_s, n): n buckets of width_s from `start` (a multiple of width_s) that cover first..last;
    n is at most buckets + 2 (the round start falls up to a width or two before `first`)."""
    width = time_step(max(last - first, 0.0) / buckets) if last > first else 1.0
    start = math.floor(first / width) * width
    if start > first:  # float rounding of floor × width
        start -= width
    return start, width, max(1, math.floor((last - start) / width) + 1)


def series(start: float | None, width: float | None, n: int,
           sums: Iterable[tuple[int, int, int, int, float]]) -> dict[str, Any]:
    """Model calls, tokens and cost per time bucket, from (bucket, calls, prompt, completion, cost) sums."""
    out: dict[str, Any] = {"start": start, "width_s": width, "calls": [0] * n, "prompt_tokens": [0] * n,
                           "completion_tokens": [0] * n, "tokens": [0] * n, "cost_usd": [0.0] * n}
    for bucket, calls, prompt, completion, cost in sums:
        i = min(max(int(bucket), 0), n - 1)
        out["calls"][i] += calls or 0
        out["prompt_tokens"][i] += prompt or 0
        out["completion_tokens"][i] += completion or 0
        out["tokens"][i] += (prompt or 0) + (completion or 0)
        out["cost_usd"][i] = round(out["cost_usd"][i] + (cost or 0.0), 10)
    return out


def failures(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Failures by type from swarm.metrics.stats: failed executions (retried or failed for good), failed model
    calls and failed tool calls, one row per (type, source), the most frequent first."""
    rows = [{"type": kind, "source": "executions", "count": n} for kind, n in stats["errors"]["by_type"].items()]
    rows += [{"type": kind, "source": "model calls", "count": n} for kind, n in stats["llm"]["errors_by_type"].items()]
    tools: dict[str, int] = {}
    for entry in stats["tools"].values():
        for kind, n in entry.get("errors_by_type", {}).items():
            tools[kind] = tools.get(kind, 0) + n
    rows += [{"type": kind, "source": "tool calls", "count": n} for kind, n in tools.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["source"], r["type"]))
