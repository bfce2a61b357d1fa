"""`swarm stats` and `swarm export`: metrics of runs, and a run as one HTML file."""

from __future__ import annotations

import json
import sys
from typing import Any

from swarm.cli.common import open_store
from swarm.errors import SwarmError
from swarm.render import printable


def register(sub) -> None:
    stats = sub.add_parser("stats", help="metrics of one run or of all runs: times, nodes, errors, tools, tokens, cost")
    stats.add_argument("run", nargs="?", help="a run id (default: every run in the store)")
    stats.add_argument("--json", action="store_true", help="print the metrics as JSON")
    stats.add_argument("--prometheus", action="store_true", help="print every run's metrics in Prometheus text format")
    stats.set_defaults(func=cmd_stats)

    export = sub.add_parser("export", help="write a run as one self-contained HTML file (tree and node details)")
    export.add_argument("run", help="a run id, or a unique prefix of one")
    export.add_argument("--html", required=True, metavar="FILE", help="the HTML file to write")
    export.set_defaults(func=cmd_export)


def cmd_stats(args) -> int:
    from swarm.metrics import prometheus_text, stats

    _, store = open_store(args)
    if args.prometheus:
        if args.run:
            raise SwarmError("--prometheus covers every run of the store; leave out RUN, or use --json for one run")
        print(prometheus_text(store), end="")
    elif args.json:
        print(json.dumps(stats(store, args.run), ensure_ascii=False, indent=2))
    else:
        print_stats(stats(store, args.run))
    store.close()
    return 0


def cmd_export(args) -> int:
    from swarm.export_html import export_html

    _, store = open_store(args)
    run = store.run(args.run)
    try:
        path = export_html(store, run["id"], args.html)
    except OSError as exc:
        raise SwarmError(f"cannot write {args.html} ({exc.strerror}); pass --html a path in a writable folder") from None
    finally:
        store.close()
    print(f"run {run['id']} ({run['status']}) written to {path}")
    return 0


# --- the text view of stats ---------------------------------------------------------------------


def stats_lines(s: dict[str, Any]) -> list[str]:
    """`stats()` as plain text: its lines, and its tables with columns padded to line up."""
    return [line for part in stats_parts(s) for line in ([part] if isinstance(part, str) else _table(*part))]


def print_stats(s: dict[str, Any], stream=None) -> None:
    """`swarm stats`: on a terminal the tables drawn by rich, fitted to its width; elsewhere stats_lines."""
    from swarm.terminal import is_terminal, print_table

    stream = sys.stdout if stream is None else stream
    if not is_terminal(stream):
        print("\n".join(stats_lines(s)), file=stream)
        return
    for part in stats_parts(s):
        if isinstance(part, str):
            print(part, file=stream)
        else:
            head, rows = part
            print_table(head, rows, _table(head, rows), right=range(1, len(head)), fit=0, stream=stream)


Table = tuple[list[str], list[list[Any]]]


def stats_parts(s: dict[str, Any]) -> list[str | Table]:
    """`stats()` as lines of text and tables (head, rows) between them."""
    lines: list[str | Table] = []
    runs = s["runs"]
    if "run" in s:
        r = s["run"]
        lines.append(f"run {r['id']}: {r['status']}" + (f" ({printable(r['stop_reason'])})" if r.get("stop_reason") else ""))
        lines.append(f"goal: {printable(r['goal'])}")
        lines.append(f"completion time: {_secs(r['duration_s'])} (driven {_secs(r['active_s'])})")
    else:
        lines.append(f"runs: {runs['count']} ({_counts(runs['by_status'])})")
        d = runs["duration_s"]
        lines.append(f"completion time of {d['count']} ended run(s): median {_secs(d['median'])}, p95 {_secs(d['p95'])}, "
                     f"max {_secs(d['max'])}")
    llm = s["llm"]
    lines.append(f"tokens: {llm['prompt_tokens']} in, {llm['completion_tokens']} out · cost ${llm['cost_usd']:.6f}")

    nodes = s["nodes"]
    lines += ["", f"nodes: {nodes['total']} ({_counts(nodes['by_status'])})"]
    statuses = sorted({k for e in s["scripts"].values() for k in e["by_status"]})
    lines.append((["SCRIPT", "NODES", "EXECUTIONS", *[k.upper() for k in statuses]],
                    [[name, e["nodes"], e["executions"], *[e["by_status"].get(k, 0) for k in statuses]]
                     for name, e in s["scripts"].items()]))

    err = s["errors"]
    lines += ["", f"errors: {err['failed_executions']} of {err['executions']} executions failed ({err['rate']:.1%}); "
                  f"{err['failed_nodes']} node(s) ended failed ({err['node_failure_rate']:.1%})"]
    if err["by_type"]:
        lines.append((["ERROR TYPE", "EXECUTIONS", "NODES"],
                      [[k, v, err["failed_nodes_by_type"].get(k, 0)] for k, v in err["by_type"].items()]))

    mended = f", {llm['json_repaired']} with JSON mended by json-repair" if llm.get("json_repaired") else ""
    lines += ["", f"model calls: {llm['calls']} ({llm['errors']} failed, {llm['error_rate']:.1%}{mended})"]
    if s["models"]:
        lines.append((["MODEL", "CALLS", "ERRORS", "IN TOKENS", "OUT TOKENS", "COST USD", "P50 MS", "P95 MS"],
                        [[m, e["calls"], e["errors"], e["prompt_tokens"], e["completion_tokens"], f"{e['cost_usd']:.6f}",
                          _num(e["latency_ms"]["median"]), _num(e["latency_ms"]["p95"])] for m, e in s["models"].items()]))
    if llm["errors_by_type"]:
        lines.append((["MODEL ERROR", "CALLS"], [[k, v] for k, v in llm["errors_by_type"].items()]))

    tools = s["tools"]
    lines += ["", f"tool calls: {sum(t['calls'] for t in tools.values())}"]
    if tools:
        lines.append((["TOOL", "CALLS", "ERRORS", "P50 MS", "P95 MS"],
                      [[name, t["calls"], t["errors"], _num(t["ms"]["median"]), _num(t["ms"]["p95"])]
                       for name, t in tools.items()]))
    return lines


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [head] + [[printable(c) for c in row] for row in rows]  # error types and tool names come from scripts
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in cells]


def _counts(by: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in by.items()) or "none"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
