"""Checkout: a run's tree and node states as they were at any event of its history."""

from __future__ import annotations

import heapq
import math
from collections import Counter
from itertools import compress, repeat
from typing import Any

from swarm.deltas import DEFAULTS, whole
from swarm.errors import TimeTravelError
from swarm.snapshot import partial_states_at, state_at, tree_order
from swarm.statuses import EventKind, NodeStatus, RunStatus
from swarm.store import Store, loads

# What the last run-level event up to a point says about the run's status then.
# ("stopping": a budget or a person stopped it, and its loop is winding down.)
STATUS_AFTER = {EventKind.RUN_START: RunStatus.RUNNING, EventKind.FORK: RunStatus.RUNNING,
                EventKind.RUN_PAUSE: RunStatus.AWAITING_APPROVAL, EventKind.RUN_INTERRUPT: RunStatus.INTERRUPTED,
                EventKind.BUDGET_STOP: "stopping", EventKind.RUN_CANCEL: "stopping"}

TOP_NODES = 200  # checkout_top's default: a person reads the top of a tree of more nodes than this
# The nodes below the top that say where a run stands.
ATTENTION = (NodeStatus.RUNNING, NodeStatus.AWAITING_APPROVAL, NodeStatus.FAILED)
ATTENTION_SET = frozenset(ATTENTION)


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
    status, event = _status_then(store, run, at_event, first)
    result = next((n.get("output") for n in nodes if n["id"] == "1"), None) if status == RunStatus.DONE else None
    return {
        "run": _run_then(run, status, result, len(nodes), sum(n.get("prompt_tokens", 0) for n in nodes),
                         sum(n.get("completion_tokens", 0) for n in nodes), sum(n.get("cost_usd", 0.0) for n in nodes)),
        "at_event": at_event,
        "event": event,
        "events": {"first": first, "last": last},
        "nodes": nodes,
    }


def checkout_top(store: Store, run_id: str, at_event: int, limit: int = TOP_NODES) -> dict[str, Any]:
    """checkout() cut to what a person reads of a big run: the top of its tree, and where it stands below.

    `nodes`: the whole states of every node down to the deepest level that keeps within `limit` nodes (the
    root at least), in tree order; `below`: for each node at that last level with nodes under it, how many
    are in each status; `attention`: the first `limit` nodes (in tree order) below the cut that run, wait
    for a person or failed, of `attention_count`; `by_status`: every node counted by status. `run` is as
    checkout()'s, its cost summed exactly (math.fsum; checkout() adds in tree order, which can differ in the
    last bits). Built from partial states (snapshot.partial_states_at): only the nodes shown are made whole.
    """
    run = store.run(run_id)
    first, last = event_span(store, run, at_event)
    partial = partial_states_at(store, run["id"], at_event)
    # Every step over all the nodes is a map, a filter or a count done in C (dict.get, str.count): a Python loop
    # over 100,000 nodes would cost more than the rest of the command.
    states = list(partial.values())  # a field left out has its default (swarm.deltas.DEFAULTS)
    statuses = list(map(dict.get, states, repeat("status"), repeat(DEFAULTS["status"])))
    depths = list(map(str.count, partial, repeat(".")))
    per_level = Counter(depths)
    cut, total = min(per_level, default=0), 0
    for depth in sorted(per_level):
        total += per_level[depth]
        if total > limit:
            break
        cut = depth
    shown = list(compress(states, map(cut.__ge__, depths)))
    deeper = list(map(cut.__lt__, depths))
    statuses_below = list(compress(statuses, deeper))
    tops = [node_id.rsplit(".", depth - cut)[0] for node_id, depth in zip(compress(partial, deeper), compress(depths, deeper))]
    below: dict[str, dict[str, int]] = {}
    for (top, s), count in Counter(zip(tops, statuses_below)).items():
        below.setdefault(top, {})[s] = count
    attention = list(compress(compress(states, deeper), map(ATTENTION_SET.__contains__, statuses_below)))
    run_id = run["id"]
    status, event = _status_then(store, run, at_event, first)
    result = whole(partial["1"], run_id).get("output") if status == RunStatus.DONE and "1" in partial else None
    return {
        "run": _run_then(run, status, result, len(partial), _total(states, "prompt_tokens"),
                         _total(states, "completion_tokens"), math.fsum(filter(None, map(dict.get, states, repeat("cost_usd"))))),
        "at_event": at_event,
        "event": event,
        "events": {"first": first, "last": last},
        "by_status": dict(Counter(statuses)),
        "levels": cut,
        "nodes": sorted((whole(n, run_id) for n in shown), key=tree_order),
        "below": below,
        "attention": [whole(n, run_id) for n in heapq.nsmallest(limit, attention, key=tree_order)],
        "attention_count": len(attention),
    }


def _total(states: list[dict[str, Any]], key: str) -> int:
    return sum(filter(None, map(dict.get, states, repeat(key))))


def _status_then(store: Store, run: dict[str, Any], at_event: int, first: int) -> tuple[str, dict[str, Any] | None]:
    """The run's status right after the event, and the event itself."""
    status, since = RunStatus.PENDING, first
    for ev in store.run_events(run["id"], at_event):
        if ev["kind"] == EventKind.RUN_END:
            status = (loads(ev["detail"]) or {}).get("status") or run["status"]
        else:
            status = STATUS_AFTER.get(ev["kind"], status)
        since = ev["seq"]
    held = status in (RunStatus.AWAITING_APPROVAL, RunStatus.INTERRUPTED)
    if held and store.events(run["id"], after=since, until=at_event, limit=1, states=False):
        status = RunStatus.RUNNING  # resumed after the pause: nodes moved again since
    at = store.events(run["id"], after=at_event - 1, until=at_event, states=False)
    event = None
    if at:
        ev = at[0]
        event = {"seq": ev["seq"], "kind": ev["kind"], "node_id": ev["node_id"], "at": ev["at"], "detail": loads(ev["detail"])}
    return status, event


def _run_then(run: dict[str, Any], status: str, result: Any, nodes: int, prompt_tokens: int, completion_tokens: int,
              cost_usd: float) -> dict[str, Any]:
    return {
        **{k: run.get(k) for k in ("id", "goal", "script", "model", "created_at", "forked_from", "forked_at")},
        "budgets": loads(run.get("budgets")),
        "status": status,
        "status_now": run["status"],
        "result": result,
        "nodes": nodes,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": cost_usd,
    }
