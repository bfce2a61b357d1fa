"""[mcp] in swarm.toml: the MCP servers whose tools the swarm may call, checked into typed settings.

Each server is a table under [mcp.servers]:

    [mcp.servers.time]                  # a stdio server: the swarm starts it as a child process
    command = "uvx"
    args = ["mcp-server-time"]
    env = { TZ = "UTC" }                # added to the small environment the server gets

    [mcp.servers.search]                # a streamable-HTTP server, already running somewhere
    url = "http://127.0.0.1:8931/mcp"
    allow = ["search"]                  # only these tools (default: every tool the server lists)
    deny = ["delete_index"]             # never these
    approve = ["*"]                     # a person approves each call first ("*": every tool)

Only the standard library here: loading the configuration must not import the MCP SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from swarm.errors import ConfigError

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
EXAMPLE = '[mcp.servers.time] with command = "uvx" and args = ["mcp-server-time"], or url = "http://127.0.0.1:8931/mcp"'


@dataclass(frozen=True)
class McpServer:
    """One MCP server: how to reach it (a stdio `command`, or a streamable-HTTP `url`) and which tools to take."""

    name: str
    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    url: str = ""
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    approve: tuple[str, ...] = ()

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def describe(self) -> str:
        """How the server is reached, for messages: the command line or the URL."""
        return " ".join((self.command, *self.args)) if self.command else self.url

    def takes(self, tool: str) -> bool:
        """Whether a tool of this server enters the catalogue: on the allow list (or no list), not on the deny list."""
        return (not self.allow or tool in self.allow) and tool not in self.deny

    def needs_approval(self, tool: str) -> bool:
        return "*" in self.approve or tool in self.approve


# The keys of one server's table, with what each accepts in words (for the error messages).
KEYS = {"command": "a string", "args": "a list of strings", "env": "a table of NAME = \"value\" strings",
        "cwd": "a string", "url": "a string", "allow": "a list of strings", "deny": "a list of strings",
        "approve": "a list of strings"}


@dataclass
class McpSettings:
    # None: no server configured. Otherwise the servers by name (read from [mcp.servers.NAME] tables).
    servers: dict[str, McpServer] | None = None
    startup_timeout_s: float = 30.0
    call_timeout_s: float = 120.0

    def configured(self) -> dict[str, McpServer]:
        return self.servers or {}


def servers_from(value, where: str, from_env: bool) -> dict[str, McpServer]:
    """[mcp.servers] (a table of tables; from $SWARM_MCP_SERVERS, the same as JSON) into checked servers."""
    fix = "fix or unset the environment variable" if from_env else "fix it in the file"
    if from_env:
        import json

        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not JSON ({exc}); give a JSON object of servers, e.g. "
                              '{"time": {"command": "uvx", "args": ["mcp-server-time"]}}, or unset it') from None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table of servers by name, e.g. {EXAMPLE}; {fix}")
    return {name: server_from(name, table, _server_where(where, name), fix) for name, table in value.items()}


def _server_where(where: str, name: str) -> str:
    """Where a server's settings came from, as a person would look for it: FILE [mcp.servers.NAME], or the variable."""
    if where.endswith("[mcp].servers"):
        return f"{where.removesuffix('[mcp].servers')}[mcp.servers.{name}]"
    return f"{where} (server {name!r})"


def server_from(name: str, table, where: str, fix: str) -> McpServer:
    if not NAME.fullmatch(str(name)):
        raise ConfigError(f"{where}: a server name must start with a letter and hold only letters, digits and _ "
                          f"(it becomes part of script names, mcp_{{server}}_{{tool}}); rename it")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, e.g. {EXAMPLE}; {fix}")
    for key, value in table.items():
        if key not in KEYS:
            raise ConfigError(f"{where}.{key}: unknown setting; remove it, or use one of {', '.join(KEYS)}")
        if not _fits(key, value):
            raise ConfigError(f"{where}.{key}: expected {KEYS[key]}, got {value!r}; {fix}")
    command, url = table.get("command", "").strip(), table.get("url", "").strip()
    if bool(command) == bool(url):
        raise ConfigError(f"{where}: give either command (a stdio server the swarm starts) or url (a streamable-HTTP "
                          f"server), {'not both' if command else 'one of them'}; e.g. {EXAMPLE}")
    if url:
        from urllib.parse import urlparse

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"{where}.url: {url!r} is not an http(s) URL; give the server's streamable-HTTP endpoint, "
                              "e.g. http://127.0.0.1:8931/mcp")
        for key in ("args", "env", "cwd"):
            if table.get(key):
                raise ConfigError(f"{where}.{key}: only a stdio server (command = ...) takes {key}; remove it")
    both = sorted(set(table.get("allow", ())) & set(table.get("deny", ())))
    if both:
        raise ConfigError(f"{where}: {', '.join(both)} is both allowed and denied; keep it on one list")
    return McpServer(name=name, command=command, args=tuple(table.get("args", ())),
                     env=tuple(sorted(table.get("env", {}).items())), cwd=table.get("cwd", ""), url=url,
                     allow=tuple(table.get("allow", ())), deny=tuple(table.get("deny", ())),
                     approve=tuple(table.get("approve", ())))


def _fits(key: str, value) -> bool:
    kind = KEYS[key]
    if kind == "a string":
        return isinstance(value, str)
    if kind == "a list of strings":
        return isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def check(settings: McpSettings) -> list[tuple[str, str]]:
    """Problems across values, as (problem, environment variable) like swarm/config.py's other checks."""
    return [(f"[mcp].{key} must be more than 0 (got {getattr(settings, key):g})", f"SWARM_MCP_{key.upper()}")
            for key in ("startup_timeout_s", "call_timeout_s") if getattr(settings, key) <= 0]
