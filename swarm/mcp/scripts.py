"""Each allowed tool of each MCP server as a node script of the catalogue: `mcp_{server}_{tool}`.

The script's description is the tool's own, so routing finds it by retrieval like any script; its input
schema is the tool's input schema plus the `goal` every routed node carries, so `route` asks the model
for the tool's arguments in its one choice (constrained by that schema) and the lifecycle checks them
when the child is spawned. The script's execute is swarm/mcp/call.py.
"""

from __future__ import annotations

import copy
import logging
import re

from swarm.mcp.errors import McpError
from swarm.plugin import NodeScript, hookimpl

log = logging.getLogger("swarm.mcp")
NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")
GOAL = {"type": "string", "description": "what the call is for, in words (the routed sub-goal)"}


def script_name(server: str, tool: str) -> str:
    """The node script of a tool: mcp_{server}_{tool}, anything that is not a letter, digit or _ made _."""
    return f"mcp_{server}_{NOT_IDENTIFIER.sub('_', tool)}"


class McpPlugin:
    """The pluggy plugin that offers the tools of the configured servers, as listed when the engine started."""

    def __init__(self, client):
        self.client = client
        self.scripts: list[NodeScript] = []
        self.unavailable: dict[str, str] = {}  # server -> why its tools are missing

    def load(self) -> None:
        """List every server's tools (all at once) and make their scripts; a server that cannot be listed
        is logged (what is wrong, what to do) and left out: the swarm goes on without its tools."""
        from swarm.mcp.call import make_execute

        scripts, names = [], {}
        for server_name, listed in self.client.list_all().items():
            server = self.client.servers[server_name]
            if isinstance(listed, McpError):
                self.unavailable[server_name] = str(listed)
                log.warning("%s; its tools are left out of this run", listed)
                continue
            for tool in listed:
                if not server.takes(tool["name"]):
                    continue
                name = script_name(server_name, tool["name"])
                if name in names:
                    log.warning("MCP server %r lists both %r and %r, which make the same script name %s; "
                                "only the first is offered (deny one with [mcp.servers.%s].deny)",
                                server_name, names[name], tool["name"], name, server_name)
                    continue
                names[name] = tool["name"]
                scripts.append(NodeScript(
                    name=name,
                    description=describe(server_name, tool),
                    execute=make_execute(self.client, server, tool),
                    input_schema=script_schema(tool["input_schema"]),
                    source=f"mcp:{server_name}",
                ))
            unknown = [t for t in server.allow if t not in {x["name"] for x in listed}]
            if unknown:
                log.warning("[mcp.servers.%s].allow names %s, which the server does not list; its tools: %s",
                            server_name, ", ".join(unknown), ", ".join(sorted(x["name"] for x in listed)) or "none")
        self.scripts = scripts

    @hookimpl
    def swarm_node_scripts(self) -> list[NodeScript]:
        return list(self.scripts)


def describe(server: str, tool: dict) -> str:
    text = " ".join((tool["description"] or "").split()) or f"the {tool['name']} tool"
    return f"{text} (tool {tool['name']} of the MCP server {server})"


def script_schema(tool_schema: dict) -> dict:
    """The tool's input schema with the routed `goal` added (unless the tool has a `goal` of its own)."""
    schema = copy.deepcopy(tool_schema) if isinstance(tool_schema, dict) else {}
    schema.setdefault("type", "object")
    properties = schema.setdefault("properties", {})
    properties.setdefault("goal", GOAL)
    return schema
