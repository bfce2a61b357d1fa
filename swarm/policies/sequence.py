"""sequence: one child after another; each sees the earlier results (ctx.previous), failures included.

A failed step does not end the sequence: the later steps and then the parent decide what it means
(work around it, re-plan, or report a partial answer).
"""

from __future__ import annotations

from typing import Mapping

from swarm.node import Child, Report, Status, TaskNode
from swarm.policies.base import NEXT_STEP, WAKE, ChildPolicy, register


@register
class Sequence(ChildPolicy):
    name = "sequence"

    def start(self, children: list[Child]) -> tuple[list[Child], list[Child]]:
        return children[:1], children[1:]

    def after_child_ended(self, parent: TaskNode, child: TaskNode, open_left: int, nodes: Mapping[str, TaskNode]) -> str:
        return NEXT_STEP if parent.planned and child.status in (Status.DONE, Status.FAILED) else WAKE

    def previous_for(self, node: TaskNode, parent: TaskNode, nodes: Mapping[str, TaskNode]) -> list[Report]:
        return [nodes[c].report() for c in parent.group if c != node.id]
