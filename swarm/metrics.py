"""Metrics: what the store says about runs — completion times, nodes, errors, tools, tokens, cost.

Functions over the store: `stats` gives a JSON-able dict (one run, or all of them),
`prometheus_text` the same counts in Prometheus' text exposition format. Everything is read
(through the MetricsReader port, swarm/ports.py) from what the lifecycle already writes
(runs, nodes, events, model calls); tool calls come
from the `tool_calls` events a node's execution leaves in the history. The raw counts of a
run that ended are kept in memory, so a long-lived caller (the UI's `/metrics`) reads each
ended run once.
"""

from __future__ import annotations

import math
from typing import Any

from swarm.statuses import RUN_FINAL, EventKind
from swarm.store import Store, loads

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def stats(store: Store, run_id: str | None = None) -> dict[str, Any]:
    """Metrics of one run (id or unique prefix), or of every run in the store when run_id is None.

    Keys: scope, run (one run only), runs, nodes, scripts, errors, llm, models, tools.
    """
    if not run_id:
        return {"scope": "all", **_stats(store, _all_runs(store))}
    run = store.run(run_id)
    return {"scope": run["id"], "run": _run_summary(run), **_stats(store, [run])}


def _all_runs(store: Store) -> list[dict[str, Any]]:
    return store.metrics.runs_by_age()


def _stats(store: Store, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"runs": _runs(runs), **_combine([tally(store, run) for run in runs])}


# --- one run's raw counts, kept while it cannot change ------------------------------------------

_ENDED: dict[tuple[str, str], tuple[int, dict]] = {}  # (store file, run id) -> (last event, tally)
_ENDED_MAX = 20_000


def tally(store: Store, run: dict[str, Any]) -> dict[str, Any]:
    """The raw counts of one run (a row of the runs table), read from its rows of the store.

    An ended run's tally is kept in memory (keyed by its last event), so `stats` of a whole
    store, or a scraped `/metrics`, reads only the runs that are still going.
    """
    key = (str(store.path), run["id"])
    kept = _ENDED.get(key)
    if kept is not None and kept[0] == run.get("last_event"):
        return kept[1]
    found = _read_tally(store, run["id"])
    if run["status"] in RUN_FINAL:
        if len(_ENDED) >= _ENDED_MAX:
            _ENDED.pop(next(iter(_ENDED)))
        _ENDED[key] = (run.get("last_event"), found)
    return found


def _read_tally(store: Store, rid: str) -> dict[str, Any]:
    rows = store.metrics.tally_rows(rid)
    nodes = {(script, status): n for script, status, n in rows["nodes"]}
    script_of = dict(rows["scripts"])
    executions: dict[str, int] = {}
    retried: list[str | None] = []
    tools: list[tuple] = []
    for kind, node_id, detail in rows["events"]:
        if kind == EventKind.EXECUTE:
            script = script_of.get(node_id, "unknown")
            executions[script] = executions.get(script, 0) + 1
        elif kind == EventKind.RETRY:  # a failed execution that was tried again
            retried.append((loads(detail) or {}).get("error"))
        else:
            tools += [(c.get("tool"), bool(c.get("ok")), c.get("ms") or 0.0, c.get("error"))
                      for c in (loads(detail) or {}).get("calls") or []]
    # An execution that failed for good leaves its error on the failed node: failed_nodes.
    return {"nodes": nodes, "executions": executions, "retried": retried, "failed_nodes": rows["failed_errors"],
            "calls": rows["calls"], "tools": tools, "json_repaired": rows["json_repaired"]}


# --- the parts of stats ------------------------------------------------------------------------


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


def _runs(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return {
        "count": len(rows),
        "by_status": dict(sorted(by_status.items())),
        "duration_s": summary(run_durations(rows)),
        "active_s": summary([r["active_s"] or 0.0 for r in rows if r["status"] in RUN_FINAL]),
        "prompt_tokens": sum(r["prompt_tokens"] or 0 for r in rows),
        "completion_tokens": sum(r["completion_tokens"] or 0 for r in rows),
        "cost_usd": round(sum(r["cost_usd"] or 0.0 for r in rows), 10),
    }


def run_durations(rows: list[dict[str, Any]]) -> list[float]:
    """Seconds from creation to end of the runs (rows of the runs table) that ended."""
    return [r["finished_at"] - r["created_at"] for r in rows if r["status"] in RUN_FINAL and r.get("finished_at")]


def _combine(tallies: list[dict[str, Any]]) -> dict[str, Any]:
    """The nodes, scripts, errors, llm, models and tools sections of stats, over some runs' tallies."""
    by_status: dict[str, int] = {}
    scripts: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, Any]] = {}
    latencies: dict[str, list[float]] = {}
    tools: dict[str, dict[str, Any]] = {}
    tool_ms: dict[str, list[float]] = {}
    retried: list = []
    failed_nodes: list = []
    llm_errors: list = []
    executions = 0

    def script(name: str) -> dict[str, Any]:
        return scripts.setdefault(name, {"nodes": 0, "executions": 0, "by_status": {}})

    for t in tallies:
        for (name, status), n in t["nodes"].items():
            by_status[status] = by_status.get(status, 0) + n
            entry = script(name)
            entry["nodes"] += n
            entry["by_status"][status] = entry["by_status"].get(status, 0) + n
        for name, n in t["executions"].items():
            script(name)["executions"] += n
            executions += n
        retried += t["retried"]
        failed_nodes += t["failed_nodes"]
        for name, error, prompt, completion, cost, ms in t["calls"]:
            m = models.setdefault(name, {"calls": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0})
            m["calls"] += 1
            m["prompt_tokens"] += prompt or 0
            m["completion_tokens"] += completion or 0
            m["cost_usd"] += cost or 0.0
            if error is not None:
                m["errors"] += 1
                llm_errors.append(error)
            elif ms is not None:
                latencies.setdefault(name, []).append(ms)
        for name, ok, ms, error in t["tools"]:
            entry = tools.setdefault(name, {"calls": 0, "errors": 0, "errors_by_type": {}})
            entry["calls"] += 1
            if not ok:
                entry["errors"] += 1
                kind = error_type(error)
                entry["errors_by_type"][kind] = entry["errors_by_type"].get(kind, 0) + 1
            tool_ms.setdefault(name, []).append(ms)

    for name, m in models.items():
        m["cost_usd"] = round(m["cost_usd"], 10)
        m["latency_ms"] = summary(latencies.get(name, []))
    for name, entry in tools.items():
        entry["ms"] = summary(tool_ms[name])
    nodes_total = sum(by_status.values())
    failed = retried + failed_nodes
    calls = sum(m["calls"] for m in models.values())
    return {
        "nodes": {"total": nodes_total, "by_status": dict(sorted(by_status.items()))},
        "scripts": dict(sorted(scripts.items())),
        "errors": {
            "executions": executions, "failed_executions": len(failed), "rate": _ratio(len(failed), executions),
            "by_type": _count_types(failed), "failed_nodes": len(failed_nodes),
            "node_failure_rate": _ratio(len(failed_nodes), nodes_total),
            "failed_nodes_by_type": _count_types(failed_nodes),
        },
        "llm": {
            "calls": calls, "errors": len(llm_errors), "error_rate": _ratio(len(llm_errors), calls),
            "errors_by_type": _count_types(llm_errors),
            "json_repaired": sum(t.get("json_repaired", 0) for t in tallies),  # mended without a corrective call
            "prompt_tokens": sum(m["prompt_tokens"] for m in models.values()),
            "completion_tokens": sum(m["completion_tokens"] for m in models.values()),
            "cost_usd": round(sum(m["cost_usd"] for m in models.values()), 10),
        },
        "models": dict(sorted(models.items())),
        "tools": dict(sorted(tools.items())),
    }


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
    runs = _all_runs(store)
    s = _stats(store, runs)
    out: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[str, dict[str, str], float]]) -> None:
        out.append(f"# HELP {name} {_escape_help(help_text)}")
        out.append(f"# TYPE {name} {kind}")
        for sample, labels, value in samples:
            out.append(f"{sample}{_labels(labels)} {_number(value)}")

    family("swarm_runs", "gauge", "Runs in the store, by status.",
           [("swarm_runs", {"status": k}, v) for k, v in s["runs"]["by_status"].items()])
    durations = run_durations(runs)
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
