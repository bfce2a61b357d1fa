"""Child policies: what a waiting parent does when one of its children ends (seed 004's way up).

Pure decisions over node states; the lifecycle carries them out.
  all        run in parallel, wake the parent when every child has ended
  sequence   one child after another; each sees the earlier results (ctx.previous), failures
             included: a failed step does not end the sequence, the later steps and then the
             parent decide what it means (work around it, re-plan, or report a partial answer)
  first      the first child to succeed wins, the rest are cancelled
  best_of_n  all run, then an evaluator script picks one for the parent
"""

from __future__ import annotations

from typing import Mapping

from swarm.node import Report, Status, TaskNode

WAIT = "wait"            # more children to hear from
WAKE = "wake"            # execute the parent again with its children's reports
NEXT_STEP = "next_step"  # sequence: spawn the next planned child
WIN = "win"              # first: cancel the other children, then wake the parent
EVALUATE = "evaluate"    # best_of_n: spawn the evaluator over the successful children


def in_group(parent: TaskNode, child: TaskNode) -> bool:
    """Is `child` one of the parent's current group? (The group is the last children spawned.)"""
    index = int(child.id.rsplit(".", 1)[1])
    return index > len(parent.children) - len(parent.group)


def after_child_ended(parent: TaskNode, child: TaskNode, open_left: int, nodes: Mapping[str, TaskNode]) -> str:
    """The parent's next move; `open_left` is how many of its group have not ended, this child not counted."""
    settled = open_left == 0
    if parent.policy == "sequence":
        return NEXT_STEP if parent.planned and child.status in (Status.DONE, Status.FAILED) else WAKE
    if parent.policy == "first":
        if child.status == Status.DONE:
            return WIN
        return WAKE if settled else WAIT
    if parent.policy == "best_of_n":
        if not settled:
            return WAIT
        if parent.evaluator_node is None and len(successes(parent, nodes)) >= 2:
            return EVALUATE
        return WAKE
    return WAKE if settled else WAIT


def open_children(parent: TaskNode, nodes: Mapping[str, TaskNode]) -> int:
    return sum(1 for c in parent.group if not nodes[c].status.final)


def successes(parent: TaskNode, nodes: Mapping[str, TaskNode]) -> list[TaskNode]:
    return [nodes[c] for c in parent.group if c != parent.evaluator_node and nodes[c].status == Status.DONE]


def reports_for(node: TaskNode, nodes: Mapping[str, TaskNode]) -> list[Report] | None:
    """What a parent is executed again with: its group's reports (best_of_n: only the chosen one)."""
    if node.round == 0 or not node.group:
        return None
    if node.policy == "best_of_n" and node.evaluator_node:
        choice = nodes[node.evaluator_node].output
        candidates = successes(node, nodes)
        best = choice.get("best", 0) if isinstance(choice, dict) else 0
        best = best if isinstance(best, int) and 0 <= best < len(candidates) else 0
        return [candidates[best].report()]
    return [nodes[c].report() for c in node.group]


def previous_for(node: TaskNode, nodes: Mapping[str, TaskNode]) -> list[Report]:
    """For a step of a sequence, the reports of the steps before it."""
    if node.parent is None:
        return []
    parent = nodes[node.parent]
    if parent.policy != "sequence":
        return []
    return [nodes[c].report() for c in parent.group if c != node.id]
