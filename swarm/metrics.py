"""Metrics: what the store says about runs — completion times, nodes, errors, tools, tokens, cost.

Pure functions over the store: `stats` gives a JSON-able dict (one run, or all of them),
`prometheus_text` the same counts in Prometheus' text exposition format. Everything is read
from tables the lifecycle already writes (runs, nodes, events, llm_calls); tool calls come
from the `tool_calls` events a node's execution leaves in the history.
"""

from __future__ import annotations

import math
from typing import Any

from swarm.store import RUN_FINAL, Store

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def stats(store: Store, run_id: str | None = None) -> dict[str, Any]:
    """Metrics of one run (id or unique prefix), or of every run in the store when run_id is None.

    Keys: scope, run (one run only), runs, nodes, scripts, errors, llm, models, tools.
    """
    run = store.run(run_id) if run_id else None
    rid = run["id"] if run else None
    out: dict[str, Any] = {"scope": rid or "all"}
    if run:
        out["run"] = _run_summary(run)
    out["runs"] = _runs(store, rid)
    out["nodes"], out["scripts"] = _nodes_and_scripts(store, rid)
    out["errors"] = _errors(store, rid, out["nodes"])
    out["llm"], out["models"] = _models(store, rid)
    out["tools"] = _tools(store, rid)
    return out


# --- the parts of stats ------------------------------------------------------------------------


def _where(rid: str | None, column: str = "run_id") -> tuple[str, tuple]:
    return (f" WHERE {column}=?", (rid,)) if rid else ("", ())


def _run_summary(run: dict[str, Any]) -> dict[str, Any]:
    finished = run.get("finished_at")
    return {
        "id": run["id"], "status": run["status"], "goal": run["goal"], "script": run["script"],
        "created_at": run["created_at"], "finished_at": finished,
        "duration_s": round(finished - run["created_at"], 3) if finished else None,
        "active_s": round(run.get("active_s") or 0.0, 3), "stop_reason": run.get("stop_reason"),
        "error": run.get("error"), "nodes": run.get("nodes") or 0,
        "prompt_tokens": run.get("prompt_tokens") or 0, "completion_tokens": run.get("completion_tokens") or 0,
        "cost_usd": run.get("cost_usd") or 0.0,
    }


def _runs(store: Store, rid: str | None) -> dict[str, Any]:
    where, params = _where(rid, "id")
    rows = store._query(
        "SELECT status, created_at, finished_at, active_s, prompt_tokens, completion_tokens, cost_usd FROM runs" + where,
        params,
    )
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    durations = [r["finished_at"] - r["created_at"] for r in rows if r["status"] in RUN_FINAL and r["finished_at"]]
    active = [r["active_s"] or 0.0 for r in rows if r["status"] in RUN_FINAL]
    return {
        "count": len(rows),
        "by_status": dict(sorted(by_status.items())),
        "duration_s": summary(durations),
        "active_s": summary(active),
        "prompt_tokens": sum(r["prompt_tokens"] or 0 for r in rows),
        "completion_tokens": sum(r["completion_tokens"] or 0 for r in rows),
        "cost_usd": round(sum(r["cost_usd"] or 0.0 for r in rows), 10),
    }


def _nodes_and_scripts(store: Store, rid: str | None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    where, params = _where(rid)
    by_status: dict[str, int] = {}
    scripts: dict[str, dict[str, Any]] = {}
    for r in store._query(f"SELECT script, status, COUNT(*) AS n FROM nodes{where} GROUP BY script, status", params):
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
        entry = scripts.setdefault(r["script"], {"nodes": 0, "executions": 0, "by_status": {}})
        entry["nodes"] += r["n"]
        entry["by_status"][r["status"]] = r["n"]
    executions = store._query(
        "SELECT json_extract(state, '$.script') AS script, COUNT(*) AS n FROM events"
        + (where + " AND" if where else " WHERE") + " kind='execute' GROUP BY script",
        params,
    )
    for r in executions:
        scripts.setdefault(r["script"], {"nodes": 0, "executions": 0, "by_status": {}})["executions"] = r["n"]
    nodes = {"total": sum(by_status.values()), "by_status": dict(sorted(by_status.items()))}
    return nodes, dict(sorted(scripts.items()))


def _errors(store: Store, rid: str | None, nodes: dict[str, Any]) -> dict[str, Any]:
    """Failed executions (retried or final) by error type, and nodes that ended failed."""
    where, params = _where(rid)
    and_ = where + " AND" if where else " WHERE"
    executions = store._query(f"SELECT COUNT(*) AS n FROM events{and_} kind='execute'", params)[0]["n"]
    failed = store._query(
        f"SELECT json_extract(detail, '$.error') AS error FROM events{and_} kind IN ('retry', 'execute_end') "
        "AND json_extract(detail, '$.returned')='error'",
        params,
    )
    failed_nodes = store._query(f"SELECT json_extract(state, '$.error') AS error FROM nodes{and_} status='failed'", params)
    return {
        "executions": executions,
        "failed_executions": len(failed),
        "rate": _ratio(len(failed), executions),
        "by_type": _count_types(r["error"] for r in failed),
        "failed_nodes": len(failed_nodes),
        "node_failure_rate": _ratio(len(failed_nodes), nodes["total"]),
        "failed_nodes_by_type": _count_types(r["error"] for r in failed_nodes),
    }


def _models(store: Store, rid: str | None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Model calls per model (llm_calls.model; a call that failed before any reply is "unknown")."""
    where, params = _where(rid)
    rows = store._query(
        "SELECT COALESCE(model, '') AS model, error, prompt_tokens, completion_tokens, cost_usd, latency_ms "
        f"FROM llm_calls{where}",
        params,
    )
    models: dict[str, dict[str, Any]] = {}
    latencies: dict[str, list[float]] = {}
    for r in rows:
        name = r["model"] or "unknown"
        m = models.setdefault(name, {"calls": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0})
        m["calls"] += 1
        m["errors"] += r["error"] is not None
        m["prompt_tokens"] += r["prompt_tokens"] or 0
        m["completion_tokens"] += r["completion_tokens"] or 0
        m["cost_usd"] += r["cost_usd"] or 0.0
        if r["error"] is None and r["latency_ms"] is not None:
            latencies.setdefault(name, []).append(r["latency_ms"])
    for name, m in models.items():
        m["cost_usd"] = round(m["cost_usd"], 10)
        m["latency_ms"] = summary(latencies.get(name, []))
    errors = [r["error"] for r in rows if r["error"] is not None]
    llm = {
        "calls": len(rows), "errors": len(errors), "error_rate": _ratio(len(errors), len(rows)),
        "errors_by_type": _count_types(errors),
        "prompt_tokens": sum(m["prompt_tokens"] for m in models.values()),
        "completion_tokens": sum(m["completion_tokens"] for m in models.values()),
        "cost_usd": round(sum(m["cost_usd"] for m in models.values()), 10),
    }
    return llm, dict(sorted(models.items()))


def _tools(store: Store, rid: str | None) -> dict[str, dict[str, Any]]:
    where, params = _where(rid, "e.run_id")
    rows = store._query(
        "SELECT json_extract(c.value, '$.tool') AS tool, json_extract(c.value, '$.ok') AS ok, "
        "json_extract(c.value, '$.ms') AS ms, json_extract(c.value, '$.error') AS error "
        "FROM events AS e, json_each(e.detail, '$.calls') AS c"
        + (where + " AND" if where else " WHERE") + " e.kind='tool_calls'",
        params,
    )
    tools: dict[str, dict[str, Any]] = {}
    times: dict[str, list[float]] = {}
    for r in rows:
        t = tools.setdefault(r["tool"], {"calls": 0, "errors": 0, "errors_by_type": {}})
        t["calls"] += 1
        if not r["ok"]:
            t["errors"] += 1
            kind = error_type(r["error"] or "error")
            t["errors_by_type"][kind] = t["errors_by_type"].get(kind, 0) + 1
        times.setdefault(r["tool"], []).append(r["ms"] or 0.0)
    for name, t in tools.items():
        t["ms"] = summary(times[name])
    return dict(sorted(tools.items()))


# --- small pure pieces ------------------------------------------------------------------------


def error_type(error: str | None) -> str:
    """The type of a recorded error: "NodeTimeout" of "NodeTimeout: node 1.2 took ...", else its first word."""
    text = str(error or "").strip()
    head = text.split(":", 1)[0].strip()
    if head and " " not in head and ":" in text:
        return head[:60]
    words = text.split()
    return words[0].rstrip(":,.;")[:60] if words else "error"


def _count_types(errors) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in errors:
        kind = error_type(e)
        counts[kind] = counts.get(kind, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between the closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: list[float]) -> dict[str, Any]:
    """count, sum, median, p95 and max of some durations (None when there are none)."""
    if not values:
        return {"count": 0, "sum": 0.0, "median": None, "p95": None, "max": None}
    return {"count": len(values), "sum": round(sum(values), 3), "median": round(quantile(values, 0.5), 3),
            "p95": round(quantile(values, 0.95), 3), "max": round(max(values), 3)}


# --- Prometheus --------------------------------------------------------------------------------


def prometheus_text(store: Store) -> str:
    """Every run of the store as Prometheus text exposition (format 0.0.4), for a `/metrics` endpoint."""
    s = stats(store)
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[str, dict[str, str], float]]) -> None:
        out.append(f"# HELP {name} {_escape_help(help_text)}")
        out.append(f"# TYPE {name} {kind}")
        for sample, labels, value in samples:
            out.append(f"{sample}{_labels(labels)} {_number(value)}")

    family("swarm_runs", "gauge", "Runs in the store, by status.",
           [("swarm_runs", {"status": k}, v) for k, v in s["runs"]["by_status"].items()])
    durations = _run_durations(store)
    family("swarm_run_duration_seconds", "summary", "Wall time of ended runs, from creation to end.",
           [("swarm_run_duration_seconds", {"quantile": str(q)}, quantile(durations, q)) for q in (0.5, 0.95)
            if durations]
           + [("swarm_run_duration_seconds_sum", {}, sum(durations)),
              ("swarm_run_duration_seconds_count", {}, len(durations))])
    family("swarm_nodes", "gauge", "Nodes in the store, by status and script.",
           [("swarm_nodes", {"status": status, "script": script}, n)
            for script, entry in s["scripts"].items() for status, n in entry["by_status"].items()])
    family("swarm_node_executions_total", "counter", "Executions of node scripts (retries and later rounds included).",
           [("swarm_node_executions_total", {"script": script}, entry["executions"])
            for script, entry in s["scripts"].items() if entry["executions"]])
    family("swarm_node_errors_total", "counter", "Failed node executions, by error type.",
           [("swarm_node_errors_total", {"type": k}, v) for k, v in s["errors"]["by_type"].items()])
    family("swarm_llm_calls_total", "counter", "Model calls, by model and outcome.",
           [("swarm_llm_calls_total", {"model": m, "outcome": outcome}, n)
            for m, e in s["models"].items() for outcome, n in (("ok", e["calls"] - e["errors"]), ("error", e["errors"]))])
    family("swarm_llm_tokens_total", "counter", "Tokens of model calls, by model and kind (input = prompt, output = completion).",
           [("swarm_llm_tokens_total", {"model": m, "kind": kind}, e[key])
            for m, e in s["models"].items() for kind, key in (("input", "prompt_tokens"), ("output", "completion_tokens"))])
    family("swarm_llm_cost_usd_total", "counter", "USD spent on model calls, by model ([model].prices).",
           [("swarm_llm_cost_usd_total", {"model": m}, e["cost_usd"]) for m, e in s["models"].items()])
    family("swarm_tool_calls_total", "counter", "Tool calls made by nodes, by tool and outcome.",
           [("swarm_tool_calls_total", {"tool": t, "outcome": outcome}, n)
            for t, e in s["tools"].items() for outcome, n in (("ok", e["calls"] - e["errors"]), ("error", e["errors"]))])
    return "\n".join(out) + "\n"


def _run_durations(store: Store) -> list[float]:
    marks = ",".join("?" * len(RUN_FINAL))
    rows = store._query(f"SELECT created_at, finished_at FROM runs WHERE status IN ({marks}) AND finished_at IS NOT NULL",
                        tuple(RUN_FINAL))
    return [r["finished_at"] - r["created_at"] for r in rows]


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in labels.items())
    return "{" + inner + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float | int | None) -> str:
    if value is None:
        return "NaN"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
