"""Snapshots: a run's whole state (nodes and task queue) at one event; and rebuilding state at any event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from swarm.errors import SnapshotError
from swarm.node import TaskNode
from swarm.store import Store, dumps, loads

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
    """Write the run's latest snapshot (taking one first if the history moved on) into `folder`."""
    run = store.run(run_id)
    snap = store.latest_snapshot(run["id"])
    if snap is None or snap["at_event"] < (run["last_event"] or 0):
        nodes = state_at(store, run["id"])
        queue = [n["id"] for n in nodes if n["status"] == "pending"]
        data = snapshot_document(run, run["last_event"] or 0, [dumps(n) for n in nodes], queue)
        store.save_snapshot(run["id"], run["last_event"] or 0, "export", data)
        snap = store.latest_snapshot(run["id"])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run['id']}-{snap['at_event']}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(snap["data"], encoding="utf-8")
    tmp.replace(path)
    return path


def state_at(store: Store, run_id: str, event: int | None = None) -> list[dict[str, Any]]:
    """Node states of a run as they were right after `event` (default: now).

    Starts from the nearest snapshot at or before the event and applies the node
    state recorded with every later event, so any event can be inspected.
    """
    snap = store.latest_snapshot(run_id, at_or_before=event)
    nodes: dict[str, dict[str, Any]] = {}
    after = 0
    if snap is not None:
        doc = loads(snap["data"])
        nodes = {n["id"]: n for n in doc["nodes"]}
        after = snap["at_event"]
    for ev in store.events(run_id, after=after, until=event):
        if ev["state"]:
            state = loads(ev["state"])
            nodes[state["id"]] = state
    return sorted(nodes.values(), key=lambda n: [int(p) for p in n["id"].split(".")])
