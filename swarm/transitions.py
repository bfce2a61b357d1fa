"""Transitions: what a run's tree becomes when one of its nodes moves. Pure decisions: no threads, no store, no clock
but the one given.

spawn → execute → terminate, as changes of state: children are spawned under a policy; an execution returned a
result (the node terminates, and its parent's policy decides what follows: wait, the next step, an evaluator, a
winner, a wake-up), raised (retried, or failed), or was cancelled with everything under it; or the whole run
stopped. Each function changes the `Tree` it is given and records every event as it happens through
`tree.record(kind, node, detail)`, so the state kept with an event is the node's at that moment.

The RunLoop (swarm/lifecycle.py) decides when: it takes the outcomes of executions and people, calls these, and
commits what they recorded. What only the loop can do it is told through two callbacks: `on_cancel(node, reason)`,
just before a node is cancelled (stop its execution or its question), and `on_end(node)`, once a node reached a final
status (its span is made).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from swarm import policies
from swarm.node import Child, Spawn, Status, TaskNode
from swarm.statuses import EventKind

Record = Callable[[EventKind, "TaskNode | None", "dict | None"], None]


def _nothing(node: TaskNode, *reason: str) -> None:
    pass


@dataclass
class Tree:
    """A run's nodes as its loop holds them, with the bookkeeping the transitions keep beside them."""

    run_id: str
    nodes: dict[str, TaskNode]
    record: Record  # where each event goes, as it happens: (kind, node or None, detail or None)
    root_id: str = "1"
    on_cancel: Callable[[TaskNode, str], None] = _nothing  # (node, reason), before it is cancelled
    on_end: Callable[[TaskNode], None] = _nothing
    clock: Callable[[], float] = time.time
    ready: deque[str] = field(default_factory=deque)  # nodes to execute, in order
    # For each waiting parent, how many of its current group have not ended (bookkeeping, not history).
    open: dict[str, int] = field(default_factory=dict)
    stop_reason: str | None = None  # set once the whole run stops: nothing more starts

    def __post_init__(self) -> None:
        if not self.ready:
            self.ready.extend(n.id for n in self.nodes.values() if n.status == Status.PENDING)
        if not self.open:
            self.open.update({n.id: policies.open_children(n, self.nodes)
                              for n in self.nodes.values() if n.status == Status.WAITING})

    @property
    def root(self) -> TaskNode:
        return self.nodes[self.root_id]


# --- spawn ---------------------------------------------------------------------------------------


def requeue_interrupted(tree: Tree) -> None:
    """Nodes that were running when the last process died are executed again (at-least-once)."""
    for node in tree.nodes.values():
        if node.status == Status.RUNNING:
            node.status = Status.PENDING
            tree.ready.append(node.id)
            tree.record(EventKind.REQUEUE, node, {"reason": "interrupted; executed again on resume"})


def spawn(tree: Tree, parent: TaskNode, child: Child) -> TaskNode:
    """A new pending node under `parent`, in its current group."""
    node = TaskNode(id=parent.child_id(), run_id=tree.run_id, parent=parent.id, script=child.script, data=child.data,
                    depth=parent.depth + 1, created_at=tree.clock())
    parent.children.append(node.id)
    parent.group.append(node.id)
    tree.open[parent.id] = tree.open.get(parent.id, 0) + 1
    tree.nodes[node.id] = node
    tree.ready.append(node.id)
    tree.record(EventKind.SPAWN, node, None)
    return node


def spawn_children(tree: Tree, node: TaskNode, returned: Spawn, logs: list[str] | None = None) -> None:
    """An execution returned children (checked by the loop: known scripts, fitting inputs, within budget): the
    node waits, and its policy says which of them start now."""
    policy = policies.get(returned.policy)
    node.status = Status.WAITING
    node.policy, node.group = returned.policy, []
    tree.open[node.id] = 0
    node.evaluator = returned.evaluator if policy.evaluates else None
    node.evaluator_node = None
    first, rest = policy.start(returned.children)
    node.planned = [{"script": c.script, "data": c.data} for c in rest]
    for child in first:
        spawn(tree, node, child)
    detail = {"returned": "children", "policy": returned.policy, "n": len(returned.children)}
    tree.record(EventKind.EXECUTE_END, node, {**detail, "logs": logs} if logs else detail)


# --- execute: what came back ---------------------------------------------------------------------


def returned(tree: Tree, node: TaskNode, value: Any, logs: list[str] | None = None) -> None:
    """An execution returned its result: the node is done."""
    tree.record(EventKind.EXECUTE_END, node, {"returned": "result", "logs": logs} if logs else {"returned": "result"})
    terminate(tree, node, Status.DONE, output=value)


def failed(tree: Tree, node: TaskNode, error: str, logs: list[str] | None = None, *, retry: bool = True,
           max_attempts: int = 1) -> None:
    """An execution failed: executed again while attempts are left (and the run goes on), else the node fails."""
    node.attempts += 1
    node.error = error
    detail = {"returned": "error", "error": error, **({"logs": logs} if logs else {})}
    if retry and node.attempts < max_attempts and not tree.stop_reason:
        node.status = Status.PENDING
        tree.ready.append(node.id)
        tree.record(EventKind.RETRY, node, detail)
    else:
        tree.record(EventKind.EXECUTE_END, node, detail)
        terminate(tree, node, Status.FAILED, error=error)


# --- terminate, and the way up -------------------------------------------------------------------


def terminate(tree: Tree, node: TaskNode, status: Status, output: Any = None, error: str | None = None) -> None:
    """The node ends with `status`; its parent hears of it."""
    node.status = status
    node.output = output
    if error is not None or status == Status.DONE:
        node.error = error
    node.finished_at = tree.clock()
    tree.record(EventKind.TERMINATE, node, None)
    tree.on_end(node)
    if node.parent is not None:
        report_to_parent(tree, tree.nodes[node.parent], node)


def report_to_parent(tree: Tree, parent: TaskNode, child: TaskNode) -> None:
    """The way up: the parent's policy decides whether it has heard enough to go on."""
    if parent.status != Status.WAITING or not policies.in_group(parent, child):
        return
    tree.open[parent.id] -= 1
    decision = policies.after_child_ended(parent, child, tree.open[parent.id], tree.nodes)
    if decision == policies.NEXT_STEP:
        nxt = parent.planned.pop(0)
        step = spawn(tree, parent, Child(nxt["script"], nxt["data"]))
        tree.record(EventKind.STEP, parent, {"next": step.id, "left": len(parent.planned)})
    elif decision == policies.EVALUATE:
        candidates = [{"node": n.id, "output": n.output} for n in policies.successes(parent, tree.nodes)]
        data = {"goal": parent.data.get("goal", ""), "candidates": candidates}
        evaluator = spawn(tree, parent, Child(parent.evaluator or "review", data))
        parent.evaluator_node = evaluator.id
        tree.record(EventKind.EVALUATE, parent, {"evaluator": evaluator.id, "candidates": len(candidates)})
    elif decision == policies.WIN:
        for sibling_id in parent.group:
            cancel_subtree(tree, tree.nodes[sibling_id], f"sibling {child.id} succeeded first")
        wake(tree, parent)
    elif decision == policies.WAKE:
        parent.planned = []
        wake(tree, parent)


def wake(tree: Tree, parent: TaskNode) -> None:
    """The parent is executed again, with its children's reports."""
    parent.round += 1
    parent.attempts = 0
    parent.status = Status.PENDING
    tree.ready.append(parent.id)
    tree.record(EventKind.WAKE, parent, {"reports": len(parent.group)})


# --- cancel and stop -----------------------------------------------------------------------------


def cancel(tree: Tree, node: TaskNode, reason: str) -> None:
    """Cancel a node and everything under it; its parent hears of it like any other ending."""
    if node.status.final:
        return
    cancel_subtree(tree, node, reason)
    if node.parent is not None:
        report_to_parent(tree, tree.nodes[node.parent], node)


def cancel_subtree(tree: Tree, node: TaskNode, reason: str) -> None:
    """Cancel every unfinished node from `node` down, the deepest first; nobody above hears of it."""
    for child_id in node.children:
        cancel_subtree(tree, tree.nodes[child_id], reason)
    if node.status.final:
        return
    tree.on_cancel(node, reason)
    node.status = Status.CANCELLED
    node.error = reason
    node.finished_at = tree.clock()
    tree.record(EventKind.CANCEL, node, {"reason": reason})
    tree.on_end(node)


def stop(tree: Tree, reason: str) -> None:
    """Stop the whole run: every unfinished node is cancelled, nothing more starts."""
    if tree.stop_reason:
        return
    tree.stop_reason = reason
    cancel_subtree(tree, tree.root, reason)
    tree.ready.clear()
    tree.record(EventKind.BUDGET_STOP if reason.startswith("budget") else EventKind.RUN_CANCEL, None, {"reason": reason})
