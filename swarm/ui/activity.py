"""How long each node of a run worked: its active time over all its executions, and first start → end.

A node executes once per round (again after a retry, or after a person's approval), and its
`started_at`/`finished_at` only tell of the last execution: a parent whose last round joins
its children's reports shows a few milliseconds after many seconds of work. The history
tells of every execution: one starts with the node's `execute` event and ends with the
node's next event that is not `tool_calls` (execute_end, retry, awaiting_approval,
terminate, cancel), or when the run stops being driven (run_end, run_pause,
run_interrupt). One left open by a process that died ends, as far as the history can
tell, at the last event recorded before the `requeue` that found it.

The page keeps these numbers up to date from live events by the same rules (app.js, track()).
"""

from __future__ import annotations

from typing import Any, Iterable

from swarm.statuses import ENDS_DRIVING, NODE_FINAL, EventKind

DURING = frozenset({EventKind.TOOL_CALLS})  # recorded while an execution still goes on
FINAL = NODE_FINAL  # a node that ended works no more


def activity(rows: Iterable[tuple[str | None, str, float]]) -> dict[str, dict[str, Any]]:
    """From a run's events in order, as (node_id, kind, at): for each node that executed,
    {"active_s", "executions", "first_started_at", "running_since" (None unless executing now)}."""
    out: dict[str, dict[str, Any]] = {}
    running: dict[str, float] = {}  # node -> when its current execution started
    last_at = None
    for node_id, kind, at in rows:
        if node_id is None:
            if kind in ENDS_DRIVING:
                for nid, since in running.items():
                    out[nid]["active_s"] += max(0.0, at - since)
                running.clear()
        else:
            since = running.get(node_id)
            if since is not None and kind not in DURING:
                end = last_at if kind == EventKind.REQUEUE else at
                out[node_id]["active_s"] += max(0.0, (end or since) - since)
                del running[node_id]
            if kind == EventKind.EXECUTE:
                seen = out.get(node_id)
                if seen is None:
                    seen = out[node_id] = {"active_s": 0.0, "executions": 0, "first_started_at": at, "running_since": None}
                seen["executions"] += 1
                running[node_id] = at
        last_at = at
    for nid, since in running.items():
        out[nid]["running_since"] = since
    return out


def summary(seen: dict[str, Any] | None, state: dict[str, Any]) -> dict[str, Any] | None:
    """What the page shows of a node's work: `ms` active over all its `executions`, and `span_ms`, the wall
    time first start → end, once it ended; until then `first_started_at` (the page works the span out
    when the end comes live) and, while it executes, `running_since`. None for a node with no execution
    in this run's history (not started yet, or carried into a fork or an import as it was)."""
    if seen is None:
        return None
    out = {"ms": round(seen["active_s"] * 1000), "executions": seen["executions"]}
    first, finished = seen["first_started_at"], state.get("finished_at")
    if state.get("status") in FINAL and finished and finished >= first:
        out["span_ms"] = round((finished - first) * 1000)
    else:
        out["first_started_at"] = first
        if seen["running_since"] is not None:
            out["running_since"] = seen["running_since"]
    return out
