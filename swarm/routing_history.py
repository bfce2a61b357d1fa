"""Routing history: what the route decisions of an ended run, or a person, teach the routing index.

A route node hands its sub-goal (its own goal) to one child, and logs the decision (the goal, the
candidates retrieval offered with their scores, the pick: `Store.route_decisions`). When that child
ended well and the run ended `done`, the sub-goal is a confirmed example of the child's script; when
the child failed, or the run ended `unmet` (its review did not approve the answer), the sub-goal is a
negative of that script. The fallback (make_tool, which writes a new script) learns nothing: it fits
every sub-goal no script fits.

A person's verdict (`swarm route confirm/reject RUN NODE`) counts at once and replaces the opposite
one for the same script and sub-goal. Examples are unique by (script, sub-goal, kind), so a fork or a
replay of a run that was already learned from adds nothing.

Negatives are kept (and shown) but do not move scores: cross-validated on the dev split with the
routings the description alone got wrong as negatives, pushing a script down near its negatives did
not help (bench/routing_cv.py).
"""

from __future__ import annotations

from typing import Iterator

from swarm.errors import SwarmError
from swarm.statuses import NodeStatus, RunStatus
from swarm.store import Store, loads

ROUTE = "route"
NOT_LEARNED = {"make_tool"}


def route_outcomes(store: Store, run_id: str, status: str) -> Iterator[tuple[str, str, str, str]]:
    """(script, sub-goal, "positive" or "negative", route node id) for each settled route decision of a run."""
    # The route nodes, then only their children: a run of 100,000 nodes has few routes, and reading every
    # node's state here held up the end of every big run by a second.
    routes = {r["id"]: r for r in store.node_rows(run_id, script=ROUTE)}
    rows = sorted(store.node_rows(run_id, parents=sorted(routes), states=False), key=lambda r: r["id"])  # table order
    for child in rows:
        route = routes.get(child["parent"])
        if route is None or child["script"] in NOT_LEARNED:
            continue
        goal = _goal(route)
        if goal is None:
            continue
        if child["status"] == NodeStatus.DONE and route["status"] == NodeStatus.DONE and status == RunStatus.DONE:
            if not rejected_by_person(store, child["script"], goal):  # e.g. a fork of a run a person had rejected
                yield child["script"], goal, "positive", route["id"]
        elif child["status"] == NodeStatus.FAILED or (child["status"] == NodeStatus.DONE and status == RunStatus.UNMET):
            yield child["script"], goal, "negative", route["id"]


def rejected_by_person(store: Store, script: str, goal: str) -> bool:
    """Whether a person rejected this sub-goal for this script (`swarm route reject`): no run may learn it again."""
    return store.person_rejected_route(goal, script)


def _goal(route_row: dict) -> str | None:
    goal = ((loads(route_row["state"]) or {}).get("data") or {}).get("goal")
    return goal.strip() if isinstance(goal, str) and goal.strip() else None


def decision(store: Store, run_id: str, node_id: str) -> tuple[str, str | None]:
    """(sub-goal, picked script) of a route node: from the decision log, or from the node and its child
    (runs from before the log). A SwarmError saying what to pass when it is no route decision."""
    run_id = store.run(run_id)["id"]  # a unique prefix will do; UnknownRun, with its advice, when there is none
    logged = store.route_decisions(run_id, node_id)
    if logged:
        return logged[0]["goal"], logged[0]["pick"]
    rows = store.node_rows(run_id, around=node_id)
    node = next((r for r in rows if r["id"] == node_id), None)
    if node is None or node["script"] != ROUTE or _goal(node) is None:
        raise SwarmError(f"node {node_id} of run {run_id} is not a route decision; `swarm route decisions {run_id}` "
                         "lists the run's route nodes")
    child = next((r["script"] for r in rows if r["parent"] == node_id), None)
    return _goal(node), child


def judge(store: Store, run_id: str, node_id: str, verdict: str, script: str | None = None) -> tuple[str, str]:
    """A person's verdict on a route decision: "positive" (confirm) or "negative" (reject) the sub-goal for
    its pick (or for `script`). Recorded at once, replacing the opposite verdict; returns (script, sub-goal)."""
    run_id = store.run(run_id)["id"]
    goal, pick = decision(store, run_id, node_id)
    script = script or pick
    if not script or script in NOT_LEARNED:
        raise SwarmError(f"route node {node_id} of run {run_id} handed {goal!r} to {pick or 'no script'}, which learns "
                         "nothing; pass --script NAME to say which script it was for")
    store.forget_route_examples(script=script, text=goal, kind="negative" if verdict == "positive" else "positive")
    store.add_route_example(script, goal, verdict, run_id, node_id)
    if script == pick:
        store.set_route_outcome(run_id, node_id, verdict, "person")
    return script, goal
