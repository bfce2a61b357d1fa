"""What a child policy is: how a waiting parent hears from its children, and the registry of policies by name.

A policy is one class, subclassing `ChildPolicy`, named, and registered with `@register`; built-in ones
are the other modules of this package (found by swarm/policies/__init__.py), and any module that does
the same (a file of [toolsmith].plugins_folder, an installed plugin) adds one. Policies are pure
decisions over node states: the lifecycle carries them out.
"""

from __future__ import annotations

from typing import Mapping

from swarm.errors import SwarmError
from swarm.node import Child, Report, Status, TaskNode

# What a waiting parent does when one of its children ended.
WAIT = "wait"            # more children to hear from
WAKE = "wake"            # execute the parent again with its children's reports
NEXT_STEP = "next_step"  # spawn the next planned child (`start` kept it for later)
WIN = "win"              # cancel the other children, then wake the parent
EVALUATE = "evaluate"    # spawn the evaluator over the successful children (policies that `evaluates`)


class ChildPolicy:
    """The default of every step: all children at once, the parent woken once every one has ended."""

    name = ""
    evaluates = False  # a `Spawn.evaluator` script picks one of the successful children (EVALUATE)

    def start(self, children: list[Child]) -> tuple[list[Child], list[Child]]:
        """The children to spawn now, and those planned for later (spawned one at a time on NEXT_STEP)."""
        return children, []

    def after_child_ended(self, parent: TaskNode, child: TaskNode, open_left: int, nodes: Mapping[str, TaskNode]) -> str:
        """The parent's next move (WAIT, WAKE, NEXT_STEP, WIN or EVALUATE); `open_left` is how many of its
        current group have not ended, this child not counted."""
        return WAKE if open_left == 0 else WAIT

    def reports_for(self, node: TaskNode, nodes: Mapping[str, TaskNode]) -> list[Report]:
        """What the parent is executed again with (`ctx.reports`): its group's reports."""
        return [nodes[c].report() for c in node.group]

    def previous_for(self, node: TaskNode, parent: TaskNode, nodes: Mapping[str, TaskNode]) -> list[Report]:
        """What a child sees of its siblings (`ctx.previous`): nothing by default."""
        return []

    def still_waiting(self, parent: TaskNode, nodes: Mapping[str, TaskNode]) -> bool:
        """Whether a waiting parent's group, as it stands, leaves it waiting; False when the children's ends call
        for a move of the parent (a wake, a next step, a win) that the history does not show yet. A fork asks it
        of an event inside a turn, and starts where that turn's events end. By default: while a child is open."""
        return not all(nodes[c].status.final for c in parent.group)


REGISTRY: dict[str, ChildPolicy] = {}


def register(policy: type[ChildPolicy]) -> type[ChildPolicy]:
    """Class decorator: make the policy known by its `name` (a later one of the same name replaces it)."""
    if not policy.name:
        raise SwarmError(f"the child policy {policy.__name__} has no name; set `name = \"...\"` on the class")
    REGISTRY[policy.name] = policy()
    return policy


def get(name: str | None) -> ChildPolicy:
    """The policy registered under `name` (None: "all")."""
    try:
        return REGISTRY[name or "all"]
    except KeyError:
        raise SwarmError(f"unknown child policy {name!r}; use one of {', '.join(names())}, or add one: a module with a "
                         "@register'ed ChildPolicy subclass (see swarm/policies/)") from None


def names() -> list[str]:
    return list(REGISTRY)


def in_group(parent: TaskNode, child: TaskNode) -> bool:
    """Is `child` one of the parent's current group? (The group is the last children spawned.)"""
    index = int(child.id.rsplit(".", 1)[1])
    return index > len(parent.children) - len(parent.group)


def open_children(parent: TaskNode, nodes: Mapping[str, TaskNode]) -> int:
    return sum(1 for c in parent.group if not nodes[c].status.final)


def successes(parent: TaskNode, nodes: Mapping[str, TaskNode]) -> list[TaskNode]:
    return [nodes[c] for c in parent.group if c != parent.evaluator_node and nodes[c].status == Status.DONE]
