"""Each allowed tool of each MCP server as a node script of the catalogue: `mcp_{server}_{tool}`.

The script's description is the tool's own, so routing finds it by retrieval like any script; its input
schema is the tool's input schema plus the `goal` every routed node carries, so `route` asks the model
for the tool's arguments in its one choice (constrained by that schema) and the lifecycle checks them
when the child is spawned. The script's execute is swarm/mcp/call.py.

What each server lists is kept next to the store (`.swarm-mcp-tools.json`, by how the server is reached),
so an engine offers the tools of a server it has listed before without starting it: the server starts at
the first call. A server never listed before is started and listed when the engine starts. Each time a
session lists its tools (when it starts, and before each call) the scripts follow what it lists now.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import threading
import time
from pathlib import Path

from swarm.mcp.errors import McpError
from swarm.plugin import NodeScript, hookimpl

log = logging.getLogger("swarm.mcp")
NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")
GOAL = {"type": "string", "description": "what the call is for, in words (the routed sub-goal)"}
LISTINGS_FILE = ".swarm-mcp-tools.json"


def script_name(server: str, tool: str) -> str:
    """The node script of a tool: mcp_{server}_{tool}, anything that is not a letter, digit or _ made _."""
    return f"mcp_{server}_{NOT_IDENTIFIER.sub('_', tool)}"


class McpPlugin:
    """The pluggy plugin that offers the tools of the configured servers."""

    def __init__(self, client, listings: Path, catalogue=None):
        self.client = client
        self.listings = Listings(listings)
        self.catalogue = catalogue  # refreshed when a server's tools change after the plugin was registered
        self.tools: dict[str, list[dict]] = {}  # server -> its tools, as last listed
        self.scripts: list[NodeScript] = []
        self.unavailable: dict[str, str] = {}  # server -> why its tools are missing
        self.registered = False
        self._lock = threading.Lock()

    def load(self) -> None:
        """The tools of every server: as listed before (no server started), else listed now (the servers that
        were never listed are started at once); a server that cannot be listed is logged (what is wrong, what
        to do) and left out: the swarm goes on without its tools."""
        known = self.listings.read()
        for name, server in self.client.servers.items():
            if fingerprint(server) in known:
                self.tools[name] = known[fingerprint(server)]
        missing = [name for name in self.client.servers if name not in self.tools]
        for name, listed in (self.client.list_all(missing) if missing else {}).items():
            if isinstance(listed, McpError):
                self.unavailable[name] = str(listed)
                log.warning("%s; its tools are left out", listed)
        self._build()

    def listed(self, server: str, tools: list[dict]) -> None:
        """A session listed its tools (on the client's loop thread): keep them, and follow any change."""
        with self._lock:
            if self.tools.get(server) == tools:
                return
            self.tools[server] = tools
            self.unavailable.pop(server, None)
            self.listings.write(fingerprint(self.client.servers[server]), server, tools)
            if not self.registered:
                return  # load() builds the scripts
            self._build()
        if self.catalogue is not None:
            self.catalogue.refresh()

    def _build(self) -> None:
        from swarm.mcp.call import make_execute

        scripts, names = [], {}
        for server_name, listed in self.tools.items():
            server = self.client.servers[server_name]
            for tool in listed:
                if not server.takes(tool["name"]):
                    continue
                name = script_name(server_name, tool["name"])
                if name in names:
                    log.warning("MCP server %r lists both %r and %r, which make the same script name %s; only the "
                                "first is offered (deny one with [mcp.servers.%s].deny)",
                                server_name, names[name], tool["name"], name, server_name)
                    continue
                names[name] = tool["name"]
                scripts.append(NodeScript(name=name, description=describe(server_name, tool),
                                          execute=make_execute(self.client, server, tool),
                                          input_schema=script_schema(tool["input_schema"]), source=f"mcp:{server_name}"))
            unknown = [t for t in server.allow if t not in {x["name"] for x in listed}]
            if unknown:
                log.warning("[mcp.servers.%s].allow names %s, which the server does not list; its tools: %s",
                            server_name, ", ".join(unknown), ", ".join(sorted(x["name"] for x in listed)) or "none")
        self.scripts = scripts

    @hookimpl
    def swarm_node_scripts(self) -> list[NodeScript]:
        return list(self.scripts)


class Listings:
    """The tools each server listed, by how it is reached, in a JSON file next to the store (replaced whole)."""

    def __init__(self, path: Path):
        self.path = path

    def read(self) -> dict[str, list[dict]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {key: entry["tools"] for key, entry in data.get("servers", {}).items()}
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            return {}  # none kept yet, or not readable: the servers are listed again

    def write(self, key: str, server: str, tools: list[dict]) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            servers = data["servers"] if isinstance(data.get("servers"), dict) else {}
        except (OSError, ValueError, AttributeError, KeyError, TypeError):
            servers = {}
        servers[key] = {"server": server, "listed_at": time.time(), "tools": tools}
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(json.dumps({"servers": servers}, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # the tools are still offered; the next engine lists the server again
            log.warning("could not keep the tools MCP server %r listed in %s: %s", server, self.path, exc)
            tmp.unlink(missing_ok=True)


def fingerprint(server) -> str:
    """How a server is reached (command, arguments, environment, folder, URL): a listing is kept per fingerprint."""
    how = [server.command, list(server.args), [list(kv) for kv in server.env], server.cwd, server.url]
    return hashlib.sha256(json.dumps(how).encode()).hexdigest()[:16]


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
