"""What a plugin author imports: the `hookimpl` marker and the `NodeScript` declaration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

hookimpl = pluggy.HookimplMarker("swarm")


@dataclass
class NodeScript:
    """A node script: one LLM call plus code, registered through the `swarm_node_scripts` hook.

    `execute(ctx)` runs once on the way down and again each time its children
    report back (then `ctx.reports` is set). It returns a JSON-able result, or
    `ctx.spawn(...)` to delegate to children, or `ctx.ask_human(...)`.
    """

    name: str
    description: str
    execute: Callable[[Any], Any]
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    version: str = "1"
    examples: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"node script name {self.name!r} must be a Python identifier (letters, digits, _)")
        if not callable(self.execute):
            raise ValueError(f"node script {self.name!r}: execute must be a function taking ctx")
