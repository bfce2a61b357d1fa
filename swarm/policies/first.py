"""first: the first child to succeed wins and the rest are cancelled; if none succeeds, the parent hears of all."""

from __future__ import annotations

from typing import Mapping

from swarm.node import Status, TaskNode
from swarm.policies.base import WAIT, WAKE, WIN, ChildPolicy, register


@register
class First(ChildPolicy):
    name = "first"

    def after_child_ended(self, parent: TaskNode, child: TaskNode, open_left: int, nodes: Mapping[str, TaskNode]) -> str:
        if child.status == Status.DONE:
            return WIN
        return WAKE if open_left == 0 else WAIT

    def still_waiting(self, parent: TaskNode, nodes: Mapping[str, TaskNode]) -> bool:
        return super().still_waiting(parent, nodes) and not any(nodes[c].status == Status.DONE for c in parent.group)
