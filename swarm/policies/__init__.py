"""Child policies: what a waiting parent does when one of its children ends (seed 004's way up).

Each policy is one module of this package, registering itself (swarm/policies/base.py says how):
  all        run in parallel, wake the parent when every child has ended
  sequence   one child after another; each sees the earlier results (ctx.previous)
  first      the first child to succeed wins, the rest are cancelled
  best_of_n  all run, then an evaluator script picks one for the parent
A new policy is one more file here, or a module elsewhere that registers one (a plugins-folder file).
The functions below are what the lifecycle asks; they look the parent's policy up by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Mapping

from swarm.node import Child, Report, TaskNode
from swarm.policies.base import (
    EVALUATE,
    NEXT_STEP,
    REGISTRY,
    WAIT,
    WAKE,
    WIN,
    ChildPolicy,
    get,
    in_group,
    names,
    open_children,
    register,
    successes,
)

for _module in pkgutil.iter_modules(__path__):  # every policy of this package registers itself on import
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def start(policy: str, children: list[Child]) -> tuple[list[Child], list[Child]]:
    """The children to spawn now under `policy`, and those planned for later."""
    return get(policy).start(children)


def after_child_ended(parent: TaskNode, child: TaskNode, open_left: int, nodes: Mapping[str, TaskNode]) -> str:
    """The parent's next move; `open_left` is how many of its group have not ended, this child not counted."""
    return get(parent.policy).after_child_ended(parent, child, open_left, nodes)


def reports_for(node: TaskNode, nodes: Mapping[str, TaskNode]) -> list[Report] | None:
    """What a parent is executed again with: its group's reports, as its policy tells them."""
    if node.round == 0 or not node.group:
        return None
    return get(node.policy).reports_for(node, nodes)


def previous_for(node: TaskNode, nodes: Mapping[str, TaskNode]) -> list[Report]:
    """What a child sees of its siblings before it (a sequence's earlier steps)."""
    if node.parent is None:
        return []
    parent = nodes[node.parent]
    return get(parent.policy).previous_for(node, parent, nodes)


def still_waiting(parent: TaskNode, nodes: Mapping[str, TaskNode]) -> bool:
    """Whether a waiting parent's children, as they stand, leave it waiting (its policy says; see ChildPolicy)."""
    return get(parent.policy).still_waiting(parent, nodes)


__all__ = ["ChildPolicy", "register", "get", "names", "REGISTRY", "WAIT", "WAKE", "NEXT_STEP", "WIN", "EVALUATE",
           "in_group", "open_children", "successes", "start", "after_child_ended", "reports_for", "previous_for",
           "still_waiting"]
