"""all: the children run in parallel; the parent is woken when every one has ended."""

from swarm.policies.base import ChildPolicy, register


@register
class All(ChildPolicy):
    name = "all"
