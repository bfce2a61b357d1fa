"""Checkout: a run's tree and node states as they were at any event of its history."""

from __future__ import annotations

from typing import Any

from swarm.errors import TimeTravelError
from swarm.snapshot import state_at
from swarm.statuses import EventKind, RunStatus
from swarm.store import Store, loads

# What the last run-level event up to a point says about the run's status then.
# ("stopping": a budget or a person stopped it, and its loop is winding down.)
STATUS_AFTER = {EventKind.RUN_START: RunStatus.RUNNING, EventKind.FORK: RunStatus.RUNNING,
                EventKind.RUN_PAUSE: RunStatus.AWAITING_APPROVAL, EventKind.RUN_INTERRUPT: RunStatus.INTERRUPTED,
                EventKind.BUDGET_STOP: "stopping", EventKind.RUN_CANCEL: "stopping"}


def event_span(store: Store, run: dict[str, Any], at_event: int) -> tuple[int, int]:
    """The run's first and last event numbers; refuses an event outside them, saying which are valid."""
    span = store.event_range(run["id"])
    if span is None:
        raise TimeTravelError(f"run {run['id']} has no events to travel to")
    first, last = span
    if not first <= at_event <= last:
        raise TimeTravelError(
            f"run {run['id']} has no event {at_event}: its events are {first} to {last}; "
            f"list them with `swarm history {run['id']}`"
        )
    return first, last


def checkout(store: Store, run_id: str, at_event: int) -> dict[str, Any]:
    """The run as it was right after `at_event`: its tree and every node's state then.

    Rebuilt from the nearest snapshot at or before the event plus the node states recorded with
    each later event, so any event can be checked out, not only those a snapshot was taken at.
    Event numbers are those of `swarm history` (one sequence for the whole store).
    """
    run = store.run(run_id)
    first, last = event_span(store, run, at_event)
    nodes = state_at(store, run["id"], at_event)
    status, result, since = RunStatus.PENDING, None, first
    for ev in store.run_events(run["id"], at_event):
        if ev["kind"] == EventKind.RUN_END:
            status = (loads(ev["detail"]) or {}).get("status") or run["status"]
        else:
            status = STATUS_AFTER.get(ev["kind"], status)
        since = ev["seq"]
    held = status in (RunStatus.AWAITING_APPROVAL, RunStatus.INTERRUPTED)
    if held and store.events(run["id"], after=since, until=at_event, limit=1, states=False):
        status = RunStatus.RUNNING  # resumed after the pause: nodes moved again since
    if status == RunStatus.DONE:
        result = next((n.get("output") for n in nodes if n["id"] == "1"), None)
    at = store.events(run["id"], after=at_event - 1, until=at_event, states=False)
    event = None
    if at:
        ev = at[0]
        event = {"seq": ev["seq"], "kind": ev["kind"], "node_id": ev["node_id"], "at": ev["at"], "detail": loads(ev["detail"])}
    return {
        "run": {
            **{k: run.get(k) for k in ("id", "goal", "script", "model", "created_at", "forked_from", "forked_at")},
            "budgets": loads(run.get("budgets")),
            "status": status,
            "status_now": run["status"],
            "result": result,
            "nodes": len(nodes),
            "prompt_tokens": sum(n.get("prompt_tokens", 0) for n in nodes),
            "completion_tokens": sum(n.get("completion_tokens", 0) for n in nodes),
            "cost_usd": sum(n.get("cost_usd", 0.0) for n in nodes),
        },
        "at_event": at_event,
        "event": event,
        "events": {"first": first, "last": last},
        "nodes": nodes,
    }
