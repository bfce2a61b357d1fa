"""Routing history: what the route decisions of an ended run teach the routing index.

A route node hands its sub-goal (its own goal) to one child. When that child ended well and the run
ended `done` (not `unmet`, failed or stopped), the sub-goal is a confirmed example of the child's
script; when the child failed, the sub-goal is a negative of that script. The fallback (make_tool,
which writes a new script) learns nothing: it fits every sub-goal no script fits.
"""

from __future__ import annotations

from typing import Iterator

from swarm.store import Store, loads

ROUTE = "route"
NOT_LEARNED = {"make_tool"}


def route_outcomes(store: Store, run_id: str, status: str) -> Iterator[tuple[str, str, str, str]]:
    """(script, sub-goal, "positive" or "negative", route node id) for each settled route decision of a run."""
    rows = store._query("SELECT id, parent, script, status, state FROM nodes WHERE run_id=?", (run_id,))
    routes = {r["id"]: r for r in rows if r["script"] == ROUTE}
    for child in rows:
        route = routes.get(child["parent"])
        if route is None or child["script"] in NOT_LEARNED:
            continue
        goal = ((loads(route["state"]) or {}).get("data") or {}).get("goal")
        if not isinstance(goal, str) or not goal.strip():
            continue
        if child["status"] == "done" and route["status"] == "done" and status == "done":
            yield child["script"], goal.strip(), "positive", route["id"]
        elif child["status"] == "failed":
            yield child["script"], goal.strip(), "negative", route["id"]
