"""Fork: a new run that starts from another run's state at one of its events, optionally with edited inputs.

The fork replays the recorded model replies of the run it came from instead of calling the
model: a recorded call answers the fork's call of the same node, round and attempt only when
the fork asks exactly the same (messages and schema, byte for byte). So a fork is exact and
costs nothing until it diverges; from the first node whose request changed, the model is asked.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from swarm import policies
from swarm.checkout import checkout
from swarm.errors import TimeTravelError
from swarm.model.structured import validate
from swarm.node import Status, TaskNode
from swarm.snapshot import snapshot_document
from swarm.statuses import EventKind, RunStatus
from swarm.store import Batch, Store, dumps, loads

if TYPE_CHECKING:
    from swarm.engine import Engine

SET_FORM = "NODE.data.KEY=VALUE (e.g. 1.2.data.question=\"Why?\"; VALUE is JSON when it parses as JSON, else text)"
NODE_ID = re.compile(r"[1-9]\d*(\.[1-9]\d*)*")


def parse_set(item: str) -> tuple[str, Any]:
    """One `--set NODE.data.KEY=VALUE` → ("NODE.data.KEY", value); VALUE is JSON if it parses, else text."""
    path, sep, raw = item.partition("=")
    if not sep or not _is_path(path):
        raise TimeTravelError(f"--set {item!r} must look like {SET_FORM}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return path, value


def fork(engine: Engine, run_id: str, at_event: int, sets: dict[str, Any] | None = None) -> str:
    """Record a new run whose state is `run_id`'s right after `at_event`, with `sets` applied; returns its id.

    `sets` maps "NODE.data.KEY" to the new value of that key of the node's input. Nodes that were
    running or waiting for a person then are pending in the fork (executed again); an edited node
    must not have ended by then. Drive the fork like any run: `engine.drive(new_id)`.
    """
    store = engine.store
    parent = store.run(run_id)
    view = checkout(store, parent["id"], at_event)
    nodes = {s["id"]: TaskNode.from_state(s) for s in view["nodes"]}
    if "1" not in nodes:
        raise TimeTravelError(f"run {parent['id']} had no nodes yet at event {at_event}; fork at a later event "
                              f"(see `swarm history {parent['id']}`)")
    asked_at, at_event = at_event, _settle(store, parent["id"], at_event, nodes)
    edits = _edits(engine, parent, at_event, nodes, sets or {})
    new_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    for node in nodes.values():
        node.run_id = new_id
    copied = [dumps(node.state()) for node in nodes.values()]  # the snapshot at the fork event: before any change
    queue = [n.id for n in nodes.values() if n.status == Status.PENDING]
    batch = Batch()
    batch.event(new_id, EventKind.FORK, None, {"from": parent["id"], "at_event": at_event, "asked_at": asked_at,
                                       "goal": parent["goal"], "script": parent["script"], "sets": sets or {}})
    for node in nodes.values():
        if node.status in (Status.RUNNING, Status.AWAITING_APPROVAL):
            reason = f"{node.status} at event {at_event} of run {parent['id']}; executed again in the fork"
            node.status = Status.PENDING
            batch.event(new_id, EventKind.REQUEUE, node, {"reason": reason})
    for node_id, changes in edits.items():
        node = nodes[node_id]
        node.data = {**node.data, **changes}
        batch.event(new_id, EventKind.EDIT, node, {"set": changes})
    for node in nodes.values():  # the nodes table: every node as it now is
        batch.nodes.setdefault(node.id, (new_id, node.id, node.parent, node.script, str(node.status), dumps(node.state())))
    run = {
        "id": new_id, "goal": parent["goal"], "script": parent["script"], "status": RunStatus.PENDING,
        "created_at": time.time(), "budgets": parent.get("budgets") or "{}", "model": engine.endpoint.describe(),
        "nodes": len(nodes), "prompt_tokens": sum(n.prompt_tokens for n in nodes.values()),
        "completion_tokens": sum(n.completion_tokens for n in nodes.values()),
        "cost_usd": sum(n.cost_usd for n in nodes.values()), "forked_from": parent["id"], "forked_at": at_event,
    }
    store.create_run_from(run, batch, lambda first: snapshot_document(run, first, copied, queue))
    return new_id


def _settle(store: Store, run_id: str, at_event: int, nodes: dict[str, TaskNode]) -> int:
    """The first event at or after `at_event` where the run's state is whole, with `nodes` moved on to it.

    The events of one turn of the loop are recorded together, so an event inside a turn can show a
    cause without its effect: children spawned that their parent has not recorded yet, or a parent
    still waiting whose children have all ended (or, under `first`, one has won). A fork starts
    after the rest of that turn, never from such a half-state.
    """
    if _whole(nodes):
        return at_event
    for ev in store.events(run_id, after=at_event):
        if ev["state"]:
            node = TaskNode.from_state(loads(ev["state"]))
            nodes[node.id] = node
        if _whole(nodes):
            return ev["seq"]
    return at_event  # the history ends here: nothing more to wait for


def _whole(nodes: dict[str, TaskNode]) -> bool:
    for node in nodes.values():
        if node.parent is not None and node.id not in nodes[node.parent].children:
            return False  # spawned, but its parent's own event of that turn comes later
        if node.status == Status.WAITING and not policies.still_waiting(node, nodes):
            return False  # its children's ends call for its move (a wake, a win), recorded later in the turn
    return True


def _is_path(path: str) -> bool:
    node, sep, key = path.partition(".data.")
    return bool(sep and key and NODE_ID.fullmatch(node))


def _edits(engine: Engine, parent: dict, at_event: int, nodes: dict[str, TaskNode],
           sets: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The edits by node, checked: the node existed and had not ended at the event, and its input still fits its script."""
    edits: dict[str, dict[str, Any]] = {}
    for path, value in sets.items():
        if not _is_path(path):
            raise TimeTravelError(f"edit {path!r} must name NODE.data.KEY, e.g. 1.2.data.question")
        node_id, _, key = path.partition(".data.")
        node = nodes.get(node_id)
        if node is None:
            known = ", ".join(list(nodes)[:20]) + (" ..." if len(nodes) > 20 else "")
            raise TimeTravelError(f"run {parent['id']} had no node {node_id!r} at event {at_event} (its nodes then: "
                                  f"{known}); see them with `swarm checkout {parent['id']} --at {at_event}`")
        if node.status.final:
            raise TimeTravelError(f"node {node_id} had already ended ({node.status}) at event {at_event}, so a new input "
                                  f"would never be used; fork at an event {_editable(engine.store, parent['id'], node_id)}")
        edits.setdefault(node_id, {})[key] = value
    for node_id, changes in edits.items():
        node = nodes[node_id]
        script = engine.catalogue.scripts.get(node.script)
        problems = validate({**node.data, **changes}, script.input_schema) if script else []
        if problems:
            raise TimeTravelError(f"the edited input of node {node_id} does not fit script {node.script!r}: "
                                  f"{'; '.join(problems)}")
    return edits


def _editable(store: Store, run_id: str, node_id: str) -> str:
    """Which events a node could be forked at with a new input: from its spawn to just before it ended."""
    seqs = [(e["seq"], loads(e["state"])["status"]) for e in store.events(run_id, node_id=node_id) if e["state"]]
    end = next(seq for seq, status in seqs if Status(status).final)
    return f"from {seqs[0][0]} (its spawn) to {end - 1} (see `swarm history {run_id} --node {node_id}`)"
