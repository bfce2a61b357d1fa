"""Text views of runs for the terminal: the node tree, run tables, event lists.

Whatever a model (or a file, or a script) wrote passes through `printable` (swarm/terminal.py) before it reaches the
terminal: text from outside must not clear the screen, retitle the window or move the cursor.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Callable, Iterable

import orjson

from swarm.statuses import NODE_FINAL, NodeStatus
from swarm.terminal import printable  # noqa: F401 — callers take it from here too

MARKS = {
    NodeStatus.PENDING: "·", NodeStatus.RUNNING: "▶", NodeStatus.WAITING: "…", NodeStatus.AWAITING_APPROVAL: "?",
    NodeStatus.DONE: "✓", NodeStatus.FAILED: "✗", NodeStatus.CANCELLED: "⊘",
}


def _order(node_id: str) -> list[int]:
    return [int(p) for p in node_id.split(".")]


def tree_lines(nodes: Iterable[dict[str, Any]], outputs: bool = False, width: int = 100,
               ordered: bool = False, crop: Callable[[str, int], str] | None = None) -> list[str]:
    """One line per node, indented under its parent; with `outputs`, each result under its node.
    `ordered`: the nodes already come in tree order (not sorted again). `crop(line, width)` cuts a line
    (default: to `width` characters; on a terminal, swarm.terminal.crop counts display cells)."""
    cut = crop or (lambda text, room: text[:room])
    lines = []
    for n in (nodes if ordered else sorted(nodes, key=lambda n: _order(n["id"]))):
        indent = "  " * n.get("depth", n["id"].count("."))
        goal = str(n.get("data", {}).get("goal", ""))
        tokens = n.get("prompt_tokens", 0) + n.get("completion_tokens", 0)
        extra = f" [{n.get('policy')}]" if n.get("policy") and n.get("status") == NodeStatus.WAITING else ""
        line = f"{indent}{MARKS.get(n['status'], '?')} {n['id']} {n['script']} {n['status']}{extra}"
        if tokens:
            line += f"  {tokens} tok"
        if goal:
            line += f"  — {goal}"
        lines.append(cut(printable(line), width))
        if outputs and n.get("status") in NODE_FINAL:
            text = n.get("error") if n.get("status") != NodeStatus.DONE else n.get("output")
            shown = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
            for part in printable(shown or "").splitlines()[:12]:
                lines.append(cut(f"{indent}    {part}", width))
    return lines


def tree_top(view: dict[str, Any], outputs: bool = False, width: int = 100) -> list[str]:
    """The lines of a big run's checkout cut to its top (swarm.checkout.checkout_top): the nodes of its top
    levels, each node cut off there followed by what is under it (how many, in which statuses); the nodes
    below the cut that run, wait for a person or failed; a count of what was shown."""
    lines: list[str] = []
    for n in view["nodes"]:
        lines += tree_lines([n], outputs=outputs, width=width, ordered=True)
        if counts := view["below"].get(n["id"]):
            statuses = ", ".join(f"{v:,} {k}" for k, v in sorted(counts.items()))
            indent = "  " * (n["id"].count(".") + 1)
            lines.append(f"{indent}⋯ {sum(counts.values()):,} more below ({statuses})"[:width])
    shown, more, cut = len(view["nodes"]), view["attention_count"], view["levels"]
    if more:
        first = f", the first {len(view['attention'])}" if more > len(view["attention"]) else ""
        lines.append(f"below level {cut}: {more:,} running, waiting for a person or failed{first}:")
        lines += tree_lines(view["attention"], outputs=outputs, width=width, ordered=True)
    lines.append(f"{shown:,} of {view['run']['nodes']:,} nodes shown (levels 0 to {cut})"
                 + (f" and {len(view['attention']):,} below them" if more else ""))
    return lines


def counters(nodes: Iterable[dict[str, Any]], run: dict[str, Any]) -> str:
    by_status: dict[str, int] = {}
    for n in nodes:
        by_status[n["status"]] = by_status.get(n["status"], 0) + 1
    return counters_line(by_status, run)


def counters_line(by_status: dict[str, int], run: dict[str, Any]) -> str:
    """The counter line from the number of nodes in each status (statuses with none are left out)."""
    total = sum(by_status.values())
    parts = ", ".join(f"{v} {k}" for k, v in sorted(by_status.items()) if v)
    tokens = (run.get("prompt_tokens") or 0) + (run.get("completion_tokens") or 0)
    return f"{total} node{'' if total == 1 else 's'} ({parts}) · {tokens} tokens · ${run.get('cost_usd') or 0:.4f}"


RUNS_HEAD = ["RUN", "STATUS", "AGE", "NODES", "TOKENS", "COST", "GOAL"]


def runs_rows(runs: list[dict[str, Any]]) -> list[list[Any]]:
    """The cells of the runs table, one row a run (the goal printable, not cut)."""
    now = time.time()
    return [[r["id"], r["status"], age(now - r["created_at"]), r.get("nodes") or 0,
             (r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0), f"${r.get('cost_usd') or 0:.4f}",
             printable(r["goal"])] for r in runs]


def runs_table(runs: list[dict[str, Any]]) -> list[str]:
    """The runs table as plain text (pipes and scripts): fixed columns, the goal cut at 60 characters."""
    lines = [f"{'RUN':<22} {'STATUS':<18} {'AGE':>6} {'NODES':>5} {'TOKENS':>7} {'COST':>8}  GOAL"]
    now = time.time()
    for r in runs:
        tokens = (r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0)
        lines.append(
            f"{r['id']:<22} {r['status']:<18} {age(now - r['created_at']):>6} {r.get('nodes') or 0:>5} "
            f"{tokens:>7} ${r.get('cost_usd') or 0:>7.4f}  {printable(r['goal'])[:60]}"
        )
    return lines


def print_runs(runs: list[dict[str, Any]], stream=None) -> None:
    """`swarm runs`: on a terminal a table fitted to its width (the goal cut with '…'); elsewhere runs_table."""
    from swarm.terminal import print_table

    print_table(RUNS_HEAD, runs_rows(runs), runs_table(runs), right=(2, 3, 4, 5), fit=6, stream=stream)


def event_lines(events: list[dict[str, Any]]) -> list[str]:
    """One line per event: its number, time of day, node, kind, the node's status after it, and its detail."""
    lines = []
    clock: dict[int, str] = {}  # whole seconds -> "HH:MM:SS": a big run's events share their seconds
    for ev in events:
        state = ev.get("state") or {}
        if not isinstance(state, dict):  # JSON text (Store.event_pages(decoded=True) gives dicts)
            state = _decoded(state)
        detail = ev.get("detail") or ""
        at = ev["at"]
        second = math.floor(at)  # what localtime() rounds a float to
        day = clock.get(second)
        if day is None:
            day = clock[second] = time.strftime("%H:%M:%S", time.localtime(at))
        when = f"{day}.{int(at % 1 * 1000):03d}"
        node = f"{ev['node_id'] or '-'}"
        status = state.get("status", "")
        lines.append(f"{ev['seq']:>6} {when} {node:<10} {ev['kind']:<18} {status:<18} {printable(detail)[:90]}")
    return lines


def _decoded(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN or Infinity, which the store's slow encoder may have written
        return json.loads(text)


def age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
