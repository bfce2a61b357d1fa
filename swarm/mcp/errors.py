"""What goes wrong with an MCP server or one of its tools, each saying what happened and what to do.

All are final for the node (executing it again with the same input would call the same tool the same
way, and a tool may have acted before its server died): the node fails with the message, and its
parent decides what to do about it.
"""

from __future__ import annotations

from swarm.errors import SwarmError


class McpError(SwarmError):
    final = True


class ServerUnavailable(McpError):
    """The server could not be started or reached, or did not answer its handshake in time."""

    def __init__(self, server: str, how: str, why: str):
        super().__init__(f"MCP server {server!r} ({how}) could not be started: {why}; check [mcp.servers.{server}] "
                         "in swarm.toml (the command and its arguments, or the URL) and that the server runs on its own")


class ServerDied(McpError):
    """The connection to the server ended while a call was in flight (the process exited, or the HTTP server went away)."""

    def __init__(self, server: str, tool: str, why: str):
        super().__init__(f"MCP server {server!r} went away during the call to {tool} ({why}); the call may or may "
                         "not have taken effect. The next call starts a new session (a stdio server is started again)")


class CallTimedOut(McpError):
    def __init__(self, server: str, tool: str, seconds: float):
        super().__init__(f"the call to {tool} of MCP server {server!r} got no answer within {seconds:g} s; "
                         "raise [mcp].call_timeout_s if the tool is slow, or check the server")


class ToolFailed(McpError):
    """The server answered, with an error (isError, or a JSON-RPC error such as an unknown tool or bad arguments)."""

    def __init__(self, server: str, tool: str, message: str):
        super().__init__(f"the tool {tool} of MCP server {server!r} failed: {message}")


class ArgumentsInvalid(McpError):
    def __init__(self, server: str, tool: str, problems: list[str]):
        super().__init__(f"the arguments for {tool} of MCP server {server!r} do not match its input schema: "
                         f"{'; '.join(problems)}; nothing was called")
