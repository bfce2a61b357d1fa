"""A run's execution graph as JSON for the page: nodes, parent → child edges, policy groups, collapse hints.

Pure functions over node states (as the store and `state_at` give them); no I/O. The page
gets small node views (no inputs or outputs: those come with a node's detail), so the
graph of a 5,000-node run stays a few hundred kilobytes.
"""

from __future__ import annotations

from typing import Any, Iterable

from swarm.statuses import NODE_ACTIVE, NodeStatus
from swarm.ui.activity import summary

POLICY_NAMES = {"all": "parallel", "sequence": "sequence", "first": "first", "best_of_n": "best_of_n"}
LABEL_CHARS = 120
LABEL_KEYS = ("question", "task", "query", "text", "name")
COLLAPSE_OVER = 300  # nodes in a run above which quiet subtrees (all done) start collapsed

RUN_FIELDS = ("id", "goal", "script", "status", "stop_reason", "error", "created_at", "finished_at", "model",
              "prompt_tokens", "completion_tokens", "cost_usd", "nodes", "last_event", "active_s",
              "forked_from", "forked_at")


def order_key(node_id: str) -> tuple[int, ...]:
    """Ids are paths (1, 1.2, 1.10): sort them as numbers, so 1.2 comes before 1.10."""
    return tuple(int(p) for p in node_id.split("."))


def label(state: dict[str, Any]) -> str:
    """One line saying what the node is about: its goal, question or first input value."""
    data = state.get("data")
    if not isinstance(data, dict):
        return ""
    text = data.get("goal")
    if not isinstance(text, str) or not text.strip():
        text = next((data[k] for k in LABEL_KEYS if isinstance(data.get(k), str) and data[k].strip()), "")
    text = text[:LABEL_CHARS * 2]
    if "\n" in text or "  " in text or "\t" in text:
        text = " ".join(text.split())
    return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"


def node_view(state: dict[str, Any]) -> dict[str, Any]:
    """What the page shows of one node in the graph (and what a live event carries)."""
    get = state.get
    started, finished = get("started_at"), get("finished_at")
    node_id = state["id"]
    view = {
        "id": node_id,
        "parent": get("parent"),
        "script": get("script"),
        "status": get("status"),
        "depth": get("depth", node_id.count(".")),
        "label": label(state),
        "tokens": (get("prompt_tokens") or 0) + (get("completion_tokens") or 0),
        "cost_usd": get("cost_usd") or 0.0,
        "ms": round((finished - started) * 1000) if started and finished else None,
    }
    error = get("error")
    if isinstance(error, str):
        view["error"] = error[:200]
    if get("policy"):
        view["group"] = {
            "policy": state["policy"],
            "name": POLICY_NAMES.get(state["policy"], state["policy"]),
            "members": get("group") or [],
            "planned": len(get("planned") or ()),
            "evaluator": get("evaluator_node"),
        }
    return view


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    view = {k: run.get(k) for k in RUN_FIELDS}
    view["pause_requested"] = bool(run.get("pause_requested"))  # asked to pause; its loop has not stopped yet
    return view


def build_graph(run: dict[str, Any], states: Iterable[dict[str, Any]], at_event: int | None = None,
                seq: int | None = None, worked: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The graph JSON of a run: `states` are its node states (now, or as of `at_event`).

    `worked` is swarm.ui.activity's account of the executions up to the same moment: each node that
    executed gets `active` (active ms over all its executions, their number, first start → end).
    Each node view gets `children` (ids, in order), `descendants`, `active_below` and
    `failed_below` (counts over its subtree), and `collapsed` (the page's starting fold:
    on big runs, subtrees with nothing active or failed under them start folded). `groups` lists each
    parent's current policy group; `edges` are [parent, child] pairs.
    """
    views = []
    worked = worked or {}
    for s in states:
        v = node_view(s)
        seen = worked.get(v["id"])
        if seen is not None:
            v["active"] = summary(seen, s)
        views.append(v)
    views.sort(key=lambda v: order_key(v["id"]))
    by_id = {}
    for v in views:
        v["children"], v["descendants"], v["active_below"], v["failed_below"] = [], 0, 0, 0
        by_id[v["id"]] = v
    edges = []
    for v in views:  # in id order, so each parent's children list comes out ordered
        parent = by_id.get(v["parent"])
        if parent is not None:
            parent["children"].append(v["id"])
            edges.append([parent["id"], v["id"]])
    for v in reversed(views):  # a child's id sorts after its parent's: leaves are summed first
        parent = by_id.get(v["parent"])
        if parent is not None:
            parent["descendants"] += 1 + v["descendants"]
            parent["active_below"] += v["active_below"] + (v["status"] in NODE_ACTIVE)
            parent["failed_below"] += v["failed_below"] + (v["status"] == NodeStatus.FAILED)
    big = len(views) > COLLAPSE_OVER
    groups, counts = [], {}
    for v in views:
        counts[v["status"]] = counts.get(v["status"], 0) + 1
        v["collapsed"] = bool(big and v["parent"] and v["children"] and not v["active_below"] and not v["failed_below"])
        if "group" in v:
            groups.append({"parent": v["id"], **v["group"]})
    return {
        "run": run_view(run),
        "at_event": at_event,
        "seq": seq if seq is not None else run.get("last_event"),
        "nodes": views,
        "edges": edges,
        "groups": groups,
        "counts": counts,
    }
