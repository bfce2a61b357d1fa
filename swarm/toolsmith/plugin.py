"""GeneratedPlugin: the pluggy plugin that provides the active, enabled generated scripts and tools.

Its hooks read the library each time the catalogue refreshes, so a newly registered version,
a rollback or a disable takes effect at the next refresh, with no restart.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from swarm.plugin import NodeScript, hookimpl
from swarm.toolsmith.library import Generated, Library

PLUGIN_NAME = "toolsmith:generated"


class Runner(Protocol):
    """What the plugin needs of the toolsmith (swarm.toolsmith.smith.Toolsmith, which registers the plugin):
    its library and a way to run a generated script or tool in the sandbox."""

    library: Library

    def run_script(self, g: Generated, ctx: Any) -> Any: ...

    def run_tool(self, g: Generated, arguments: dict) -> Any: ...


class GeneratedPlugin:
    def __init__(self, toolsmith: Runner):
        self.toolsmith = toolsmith

    @hookimpl
    def swarm_node_scripts(self) -> list[NodeScript]:
        return [self._script(g) for g in self.toolsmith.library.active() if g.kind == "script"]

    @hookimpl
    def swarm_tools(self) -> dict[str, Callable]:
        return {g.name: self._tool(g) for g in self.toolsmith.library.active() if g.kind == "tool"}

    def _script(self, g: Generated) -> NodeScript:
        def execute(ctx):
            return self.toolsmith.run_script(g, ctx)

        return NodeScript(
            name=g.name, description=g.meta.get("description", ""), execute=execute,
            input_schema=g.meta.get("arguments") or {"type": "object"}, version=str(g.version),
            examples=[t["input"] for t in g.meta.get("tests", []) if isinstance(t.get("input"), dict)],
            source=str(g.path / "code.py"),
        )

    def _tool(self, g: Generated) -> Callable:
        def tool(**arguments):
            return self.toolsmith.run_tool(g, arguments)

        tool.__name__ = g.name
        tool.__doc__ = f"{g.meta.get('description', '')} Arguments: {g.meta.get('arguments')}. Returns: {g.meta.get('returns')}."
        return tool
