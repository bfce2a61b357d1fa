"""What the UI's API reads from the store: runs, a run's graph (now or at an event), its timeline, a node's detail,
the Stats charts' numbers."""

from __future__ import annotations

import importlib
import importlib.util
import time
from pathlib import Path
from typing import Any

from swarm.checkout import checkout
from swarm.errors import SwarmError, UnknownNode
from swarm.hybrid import PYTHON
from swarm.statuses import RUN_STATUSES  # the runs list's filter: every status a run can have
from swarm.store import Store, collector_paused, loads
from swarm.ui import axes
from swarm.ui.activity import FINAL, activity, summary
from swarm.ui.graph import build_graph, order_key, run_view


class OptionalPartMissing(SwarmError):
    """A feature needs a part of swarm this installation does not have."""


def optional(module: str, feature: str):
    """Import swarm.<module> for a feature, or say that this installation lacks it."""
    try:
        return importlib.import_module(f"swarm.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"swarm.{module}":
            raise
        raise OptionalPartMissing(f"{feature} needs swarm.{module}, which this installation of swarm does not have yet; "
                                  "update swarm") from None


def runs(store: Store, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The runs list: newest first, with age and total tokens."""
    return [_listed(r) for r in store.runs(status or None, limit)]


def run(store: Store, run_id: str) -> dict[str, Any]:
    return _listed(store.run(run_id))


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    view = run_view(row)
    view["age_s"] = time.time() - row["created_at"]
    view["tokens"] = (row.get("prompt_tokens") or 0) + (row.get("completion_tokens") or 0)
    return view


def nodes_at(store: Store, run_id: str, at_event: int | None) -> list[dict[str, Any]]:
    """Node states as of an event (None: now): time travel's checkout."""
    if at_event is None:
        return store.node_states(run_id)
    return checkout(store, run_id, at_event)["nodes"]


def graph(store: Store, run_id: str, at_event: int | None = None) -> dict[str, Any]:
    """The run's graph now (from the nodes table) or as of `at_event` (rebuilt from history)."""
    run = store.run(run_id)
    with collector_paused():  # tens of thousands of small dicts, none cyclic
        if at_event is None:
            seq = run.get("last_event") or 0  # read before the nodes: events after it are replayed by the stream
            states = store.node_states(run["id"])
            return build_graph(run, states, seq=seq, worked=activity(store.event_times(run["id"], seq)))
        return build_graph(run, nodes_at(store, run["id"], at_event), at_event=at_event, seq=at_event,
                           worked=activity(store.event_times(run["id"], at_event)))


def timeline(store: Store, run_id: str) -> dict[str, Any]:
    """The scrubber's axis: every event of the run as columns (seq, kind, node)."""
    run = store.run(run_id)
    rows = store.timeline(run["id"])
    return {"run_id": run["id"], "seqs": [r[0] for r in rows], "kinds": [r[1] for r in rows], "nodes": [r[2] for r in rows]}


def node_detail(store: Store, run_id: str, node_id: str, at_event: int | None = None,
                scripts_folder: Path | None = None) -> dict[str, Any]:
    """Everything about one node: input, output, errors, timings, tokens, cost, its model calls (prompt and
    reply), its events and logs, the code it ran in the sandbox, and its script with the version."""
    run = store.run(run_id)
    events = store.events(run["id"], until=at_event, node_id=node_id)
    recorded = [e for e in events if e["state"]]
    if recorded:  # a node's last event before the moment holds its state at that moment
        state = loads(recorded[-1]["state"])
    else:  # a run imported from a snapshot file has states without events
        state = next((s for s in nodes_at(store, run["id"], at_event) if s["id"] == node_id), None)
    if state is None:
        raise UnknownNode(run["id"], node_id)
    moment = store.events(run["id"], after=at_event - 1, until=at_event) if at_event is not None else []
    calls = [_call_view(c) for c in store.llm_calls(run["id"], node_id)
             if at_event is None or (moment and c["at"] <= moment[0]["at"])]
    logs, errors = [], []
    for ev in events:
        detail = loads(ev["detail"]) or {}
        if isinstance(detail, dict):
            logs += [str(line) for line in detail.get("logs") or []]
            if detail.get("error"):
                errors.append({"seq": ev["seq"], "kind": ev["kind"], "error": detail["error"]})
    code = []
    if isinstance(state.get("data"), dict) and isinstance(state["data"].get("code"), str):
        code.append({"from": "input", "code": state["data"]["code"]})
    for call in calls:
        for m in PYTHON.finditer(call.get("reply_text") or ""):
            code.append({"from": f"model reply ({call['key']})", "code": (m.group(1) or m.group(2)).strip() + "\n"})
    started, finished = state.get("started_at"), state.get("finished_at")
    seen = activity(store.event_times(run["id"], at_event)).get(node_id)
    worked = summary(seen, state)
    return {
        "run_id": run["id"],
        "at_event": at_event,
        "node": state,
        "children": sorted(state.get("children") or [], key=order_key),
        "timings": {
            "created_at": state.get("created_at"), "started_at": started, "finished_at": finished,
            "duration_s": (finished - started) if started and finished else None,  # the last execution
            "active_s": worked["ms"] / 1000 if worked else None,  # every execution, summed
            "executions": worked["executions"] if worked else 0,
            "first_started_at": seen["first_started_at"] if seen else None,
            "running_since": seen["running_since"] if seen else None,
            "span_s": worked["span_ms"] / 1000 if worked and "span_ms" in worked else None,
            "model_ms": sum(c.get("latency_ms") or 0 for c in calls),
        },
        "tokens": {"prompt": state.get("prompt_tokens") or 0, "completion": state.get("completion_tokens") or 0},
        "cost_usd": state.get("cost_usd") or 0.0,
        "llm_calls": calls,
        "events": [{"seq": e["seq"], "kind": e["kind"], "at": e["at"], "status": (loads(e["state"]) or {}).get("status"),
                    "detail": loads(e["detail"])} for e in events],
        "logs": logs,
        "errors": errors,
        "sandbox_code": code,
        "script": script_info(state.get("script") or "", state.get("started_at"), scripts_folder),
    }


def _call_view(row: dict[str, Any]) -> dict[str, Any]:
    request = loads(row["request"]) or {}
    reply = loads(row["reply"]) if row.get("reply") else None
    return {
        "key": row["key"], "round": row["round"], "attempt": row["attempt"], "model": row.get("model"),
        "messages": request.get("messages"), "schema": request.get("schema"),
        "reply_text": (reply or {}).get("text"), "reply_data": (reply or {}).get("data"), "error": row.get("error"),
        "prompt_tokens": row.get("prompt_tokens") or 0, "completion_tokens": row.get("completion_tokens") or 0,
        "cost_usd": row.get("cost_usd") or 0.0, "latency_ms": row.get("latency_ms"), "at": row["at"],
    }


def script_info(name: str, started_at: float | None, scripts_folder: Path | None) -> dict[str, Any]:
    """Which script ran the node: a generated one with the version that was there when the node started
    (and its code), or a built-in/plugin one with its source when it is a module of node_scripts."""
    if scripts_folder is not None:
        from swarm.toolsmith.library import Library

        library = Library(scripts_folder)
        versions = library.versions(name)
        if versions:
            state = library.state(name)
            chosen = library.get(name, state["active"]) if state["active"] else library.get(name, versions[-1])
            if started_at and chosen.meta.get("created_at", 0) > started_at:  # made later than the node ran
                earlier = [v for v in versions if library.get(name, v).meta.get("created_at", 0) <= started_at]
                chosen = library.get(name, earlier[-1]) if earlier else chosen
            return {"name": name, "kind": f"generated {chosen.kind}", "version": chosen.version,
                    "active": state["active"], "description": chosen.meta.get("description"), "code": chosen.code}
    spec = importlib.util.find_spec(f"node_scripts.{name}") if name.isidentifier() else None
    source = Path(spec.origin) if spec and spec.origin else None
    return {"name": name, "kind": "built-in" if source else "plugin", "version": None,
            "code": source.read_text(encoding="utf-8") if source else None}


def charts(store: Store, run_id: str | None = None, buckets: int = axes.BUCKETS) -> dict[str, Any]:
    """The Stats charts of every run, or of one: `completion`, how long the runs that ended took from
    creation to end (of one run: its nodes that ended, from first start to end, every round included);
    `usage`, model calls, tokens and cost per time bucket; `failures`, failures by type."""
    from swarm import metrics

    run = store.run(run_id) if run_id else None
    if run is None:
        completion = {"of": "runs", **axes.histogram(metrics.run_durations(store.runs(None, 1_000_000)), buckets)}
    else:
        completion = {"of": "nodes", **axes.histogram(_node_spans(store, run["id"]), buckets)}
    return {"scope": run["id"] if run else "all", "completion": {"unit": "s", **completion},
            "usage": _usage(store, run["id"] if run else None, buckets),
            "failures": axes.failures(metrics.stats(store, run["id"] if run else None))}


def _node_spans(store: Store, run_id: str) -> list[float]:
    """Seconds from each ended node's first start (its first round) to its end."""
    seen = activity(store.event_times(run_id))
    spans = []
    for state in store.node_states(run_id):
        first = (seen.get(state["id"]) or {}).get("first_started_at") or state.get("started_at")
        finished = state.get("finished_at")
        if state.get("status") in FINAL and first and finished and finished >= first:
            spans.append(finished - first)
    return spans


def _usage(store: Store, run_id: str | None, buckets: int) -> dict[str, Any]:
    """Model calls, tokens and cost per time bucket (summed in SQLite: a store may hold many calls)."""
    first, last, calls = store.metrics.calls_span(run_id)
    if not calls:
        return axes.series(None, None, 0, [])
    start, width, n = axes.time_axis(first, last, buckets)
    return axes.series(start, width, n, store.metrics.calls_by_bucket(start, width, run_id))
