"""Snapshots: a run's whole state (nodes and task queue) at one event; and rebuilding state at any event."""

from __future__ import annotations

import json
from operator import itemgetter
from pathlib import Path
from typing import Any

from swarm.deltas import apply
from swarm.errors import SnapshotError
from swarm.node import TaskNode
from swarm.store import Store, collector_paused, dumps, loads

FORMAT = "swarm-snapshot/1"
RUN_KEYS = ("id", "goal", "script", "status", "created_at", "budgets", "model", "prompt_tokens",
            "completion_tokens", "cost_usd", "active_s")


def snapshot_document(run: dict[str, Any], at_event: int, node_states: list[str], queue: list[str]) -> str:
    """Seed 004's snapshot: population, nodes and task queue, as one JSON text.

    `node_states` are the nodes' states already as JSON (as the history recorded them),
    so a snapshot of a big run costs a join, not a re-encoding of every node.
    """
    head = dumps({
        "format": FORMAT,
        "run": {k: run.get(k) for k in RUN_KEYS},
        "at_event": at_event,
        "population": len(node_states),
        "queue": queue,
    })
    return head[:-1] + ',"nodes":[' + ",".join(node_states) + "]}"


def changes_document(run: dict[str, Any], at_event: int, since: int, states: list[dict[str, Any]], population: int) -> str:
    """A snapshot of only the nodes changed after event `since` (each as a keyframe: what differs from a new
    node, see swarm/deltas.py), as taken while a run goes on: the snapshots before it hold the rest."""
    return dumps({
        "format": FORMAT,
        "run": {k: run.get(k) for k in RUN_KEYS},
        "at_event": at_event,
        "since": since,
        "population": population,
        "compact": True,
        "nodes": states,
    })


def read_snapshot_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SnapshotError(f"snapshot file {p} does not exist; export one with `swarm snapshot RUN`") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"{p} is not a readable snapshot ({exc}); export a fresh one with `swarm snapshot RUN`") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("nodes"), list):
        raise SnapshotError(f"{p} is not a swarm snapshot (expected format {FORMAT!r}); export one with `swarm snapshot RUN`")
    try:
        [TaskNode.from_state(n) for n in doc["nodes"]]
        doc["run"]["id"], doc["run"]["goal"]
    except (TypeError, KeyError, ValueError) as exc:
        raise SnapshotError(f"{p} has a damaged node or run record ({exc}); export a fresh one with `swarm snapshot RUN`") from None
    return doc


def export_snapshot(store: Store, run_id: str, folder: str | Path) -> Path:
    """Write the run's whole state at its last event, as a snapshot document, into `folder`."""
    run = store.run(run_id)
    at = run["last_event"] or 0
    snap = store.latest_snapshot(run["id"])
    if snap is not None and snap["at_event"] >= at and snap["since"] is None:
        data = snap["data"]  # a whole-tree snapshot already up to date (e.g. an imported one)
    else:
        nodes = state_at(store, run["id"])
        queue = [n["id"] for n in nodes if n["status"] == "pending"]
        data = snapshot_document(run, at, [dumps(n) for n in nodes], queue)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run['id']}-{at}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(data, encoding="utf-8")
    tmp.replace(path)
    return path


def state_at(store: Store, run_id: str, event: int | None = None) -> list[dict[str, Any]]:
    """Node states of a run as they were right after `event` (default: now).

    Now: the nodes table, which every event updates. At an event: the snapshots that lead up to it (the last
    whole tree, then the partial ones after it; where one starts after the one before ended, the history
    between them), then the history from the last of them to the event, so any event can be inspected.
    """
    with collector_paused():
        return _state_at(store, run_id, event)


def nodes_now(store: Store, run_id: str) -> dict[str, TaskNode]:
    """A run's nodes as they are now, by id in tree order: what a drive starts from.

    Each state rebuilt for it becomes its node (TaskNode.adopt), so a run of 100,000 nodes is loaded
    without a second copy of each."""
    with collector_paused():
        return {n.id: n for n in map(TaskNode.adopt, _state_at(store, run_id, None))}


def partial_states_at(store: Store, run_id: str, event: int) -> dict[str, dict[str, Any]]:
    """Node states of a run right after `event`, by id in no order, each partial: only the fields that differ
    from a new node's, with its id (a field left out has TaskNode's default; swarm.deltas.whole(state, run_id)
    is the whole state state_at gives). Enough to count and summarise a run of 100,000 nodes without making,
    and sorting, a whole state for each (see checkout.checkout_top)."""
    with collector_paused():
        return _states_by_id(store, run_id, event, whole=False)


def _state_at(store: Store, run_id: str, event: int | None) -> list[dict[str, Any]]:
    if event is None:
        current = store.current_states(run_id)
        if current is not None:
            return sorted(current, key=tree_order)
    return sorted(_states_by_id(store, run_id, event).values(), key=tree_order)


def _states_by_id(store: Store, run_id: str, event: int | None, whole: bool = True) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    later: dict[str, dict[str, Any]] = {}  # each node's latest compact state from the snapshots, not yet whole

    def settle() -> None:  # a node held by several snapshots is made whole once, from the latest
        if whole:
            for node_id, compact in later.items():
                nodes[node_id] = apply(None, compact, run_id)
        else:
            nodes.update(later)
        later.clear()

    at = 0
    for snap in store.snapshot_chain(run_id, at_or_before=event):
        doc = store.snapshot_doc(snap["id"])
        if snap["since"] is None:
            nodes, later = {}, {}
        elif snap["since"] > at:  # history no snapshot covers
            settle()
            store.replay(run_id, nodes, at, snap["since"], whole)
        by_id = zip(map(itemgetter("id"), doc["nodes"]), doc["nodes"])
        (later if whole and doc.get("compact") else nodes).update(by_id)  # partial states: as the snapshot holds them
        at = snap["at_event"]
    settle()
    store.replay(run_id, nodes, at, event, whole)
    return nodes


def tree_order(node: dict[str, Any]) -> tuple[int, ...]:
    """The sort key of a node's state in tree order (1, 1.1, 1.1.1, 1.2, ..., 1.10): its id's numbers."""
    return tuple(map(int, node["id"].split(".")))
