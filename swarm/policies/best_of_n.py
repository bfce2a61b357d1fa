"""best_of_n: all children run, then an evaluator script (Spawn.evaluator, "review" by default) picks one.

The parent is executed again with the chosen child's report alone; with fewer than two successes there
is nothing to choose, and it hears of them all.
"""

from __future__ import annotations

from typing import Mapping

from swarm.node import Report, TaskNode
from swarm.policies.base import EVALUATE, WAIT, WAKE, ChildPolicy, register, successes


@register
class BestOfN(ChildPolicy):
    name = "best_of_n"
    evaluates = True

    def after_child_ended(self, parent: TaskNode, child: TaskNode, open_left: int, nodes: Mapping[str, TaskNode]) -> str:
        if open_left:
            return WAIT
        if parent.evaluator_node is None and len(successes(parent, nodes)) >= 2:
            return EVALUATE
        return WAKE

    def reports_for(self, node: TaskNode, nodes: Mapping[str, TaskNode]) -> list[Report]:
        if not node.evaluator_node:
            return super().reports_for(node, nodes)
        choice = nodes[node.evaluator_node].output
        candidates = successes(node, nodes)
        best = choice.get("best", 0) if isinstance(choice, dict) else 0
        best = best if isinstance(best, int) and 0 <= best < len(candidates) else 0
        return [candidates[best].report()]
