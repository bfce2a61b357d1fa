"""Diff: two executions compared node by node (what each did, what it cost, how long it took) and in total."""

from __future__ import annotations

from typing import Any

from swarm.snapshot import state_at
from swarm.store import Store, loads

# What a node did: a difference in any of these makes it "changed". Timings always differ between
# two executions, so they are reported, never compared.
COMPARED = ("script", "data", "status", "output", "error", "children", "tokens", "cost_usd")
TOTALS = ("nodes", "failed_nodes", "prompt_tokens", "completion_tokens", "tokens", "cost_usd", "model_calls",
          "replayed_calls", "paid_cost_usd", "failed_calls", "wall_s", "active_s")


def diff(store: Store, run_a: str, run_b: str) -> dict[str, Any]:
    """Compare two runs: every node by id (same, changed, added in b, removed in b) and the run totals.

    JSON-serialisable: {"a": totals, "b": totals, "delta": b - a per total, "same_result": bool,
    "counts": {change: n}, "nodes": [{"id", "change", "fields", "a", "b"}]}.
    """
    a, b = store.run(run_a), store.run(run_b)
    nodes_a = {n["id"]: n for n in state_at(store, a["id"])}
    nodes_b = {n["id"]: n for n in state_at(store, b["id"])}
    rows = []
    for node_id in sorted(set(nodes_a) | set(nodes_b), key=lambda i: [int(p) for p in i.split(".")]):
        x, y = nodes_a.get(node_id), nodes_b.get(node_id)
        if x is None or y is None:
            change, fields = ("added" if x is None else "removed"), []
        else:
            fields = [f for f in COMPARED if _field(x, f) != _field(y, f)]
            change = "changed" if fields else "same"
        rows.append({"id": node_id, "change": change, "fields": fields, "a": _side(x), "b": _side(y)})
    totals_a, totals_b = _totals(store, a, nodes_a), _totals(store, b, nodes_b)
    counts = {c: sum(1 for r in rows if r["change"] == c) for c in ("same", "changed", "added", "removed")}
    return {
        "a": totals_a,
        "b": totals_b,
        "delta": {k: _delta(totals_a[k], totals_b[k]) for k in TOTALS},
        "same_result": (totals_a["status"], totals_a["result"]) == (totals_b["status"], totals_b["result"]),
        "counts": counts,
        "nodes": rows,
    }


def _field(node: dict[str, Any], name: str) -> Any:
    if name == "tokens":
        return node.get("prompt_tokens", 0) + node.get("completion_tokens", 0)
    if name == "cost_usd":
        return round(node.get("cost_usd") or 0.0, 9)
    return node.get(name)


def _side(node: dict[str, Any] | None) -> dict[str, Any] | None:
    if node is None:
        return None
    started, finished = node.get("started_at"), node.get("finished_at")
    return {
        "script": node["script"], "status": node["status"], "data": node.get("data"), "output": node.get("output"),
        "error": node.get("error"), "children": node.get("children", []),
        "prompt_tokens": node.get("prompt_tokens", 0), "completion_tokens": node.get("completion_tokens", 0),
        "tokens": _field(node, "tokens"), "cost_usd": node.get("cost_usd", 0.0),
        "started_at": started, "finished_at": finished,
        "duration_s": round(finished - started, 4) if started and finished else None,
    }


def _totals(store: Store, run: dict[str, Any], nodes: dict[str, dict]) -> dict[str, Any]:
    calls = store.llm_calls(run["id"])
    answered = [c for c in calls if c["reply"] is not None]
    finished = run.get("finished_at")
    return {
        "id": run["id"], "goal": run["goal"], "status": run["status"], "stop_reason": run.get("stop_reason"),
        "result": loads(run.get("result")), "error": run.get("error"), "model": run.get("model"),
        "forked_from": run.get("forked_from"), "forked_at": run.get("forked_at"),
        "nodes": len(nodes), "failed_nodes": sum(1 for n in nodes.values() if n["status"] == "failed"),
        "prompt_tokens": run.get("prompt_tokens") or 0, "completion_tokens": run.get("completion_tokens") or 0,
        "tokens": (run.get("prompt_tokens") or 0) + (run.get("completion_tokens") or 0),
        "cost_usd": run.get("cost_usd") or 0.0,
        "model_calls": len(answered),
        "replayed_calls": sum(1 for c in answered if c.get("replayed_from")),
        "paid_cost_usd": sum(c["cost_usd"] or 0.0 for c in calls if not c.get("replayed_from")),
        "failed_calls": len(calls) - len(answered),
        "wall_s": round(finished - run["created_at"], 3) if finished else None,
        "active_s": round(run.get("active_s") or 0.0, 3),
    }


def _delta(a: Any, b: Any) -> Any:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return round(b - a, 9) if isinstance(a, float) or isinstance(b, float) else b - a
    return None
