"""One node's call of an MCP tool, on the host: its arguments, a person's approval, the call, the record, the replay.

1. The arguments are the node's input keys the tool's input schema names (route put them there, checked
   against the same schema when the child was spawned). When some the tool requires are missing (a node
   started with only a goal), the node's one model call fills them in from the goal, constrained by the
   tool's schema. Either way they are validated against the tool's input schema before anything is called.
2. A tool on its server's `approve` list waits for a person first (request kind "tool_call", the proposal
   {"server", "tool", "args"}; the person may edit the args, which are validated again).
3. The call goes to the server (swarm/mcp/client.py) — unless this run is a fork and the run it came from
   recorded the same call (same node, round, attempt, tool and arguments) with its answer: then that answer
   is used and the server is not called again.
4. The call is recorded in the node's `tool_calls` event of the history (tool, outcome, time, server,
   arguments, result), which the UI and `swarm stats` show and later forks replay.

A tool error (the server answered isError, or refused the call) fails the node with the server's message;
a server that is down or dies during the call fails it with a clear error: the parent decides what next.
"""

from __future__ import annotations

import json
import time
from typing import Any

from swarm.approvals import NeedsApproval, proposal_key
from swarm.mcp.errors import ArgumentsInvalid, McpError, ToolFailed
from swarm.model.structured import validate
from swarm.store import loads

KIND = "tool_call"  # the approval request of a call a person must allow first
RESULT_KEEP_CHARS = 200_000  # a result bigger than this (as JSON) is not kept in the history: a fork calls again
ERROR_KEEP_CHARS = 300

FILL_PROMPT = """Give the arguments for one call of the tool {tool}: {description}
Goal: {goal}
{known}Reply with only the JSON object of the tool's arguments."""


def make_execute(client, server, tool: dict):
    """The execute(ctx) of the node script of one tool of one server."""
    schema = tool["input_schema"] or {"type": "object"}

    def execute(ctx):
        args = arguments(ctx, schema)
        problems = validate(args, schema)
        if problems and _only_missing(args, schema) and ctx.goal:
            args = {**fill_in(ctx, tool, args), **args}
            problems = validate(args, schema)
        if problems:
            raise ArgumentsInvalid(server.name, tool["name"], problems)
        args = approved(ctx, server, tool["name"], args, schema)
        return call(ctx, client, server.name, tool["name"], args)

    execute.__doc__ = f"Call {tool['name']} of the MCP server {server.name} with the node's input as its arguments."
    return execute


def arguments(ctx, schema: dict) -> dict[str, Any]:
    """The tool's arguments among the node's input: the keys its schema names (`goal` only when the tool has one)."""
    names = (schema.get("properties") or {}).keys()
    if names:
        return {k: v for k, v in ctx.data.items() if k in names}
    return {k: v for k, v in ctx.data.items() if k not in ("goal", "context")}


def _only_missing(args: dict, schema: dict) -> bool:
    return any(k not in args for k in schema.get("required", []))


def fill_in(ctx, tool: dict, given: dict) -> dict:
    known = f"Already given: {json.dumps(given, ensure_ascii=False)}\n" if given else ""
    reply = ctx.llm(FILL_PROMPT.format(tool=tool["name"], description=tool["description"] or "(no description)",
                                       goal=ctx.goal, known=known), schema=tool["input_schema"])
    return reply.data if isinstance(reply.data, dict) else {}


def approved(ctx, server, tool: str, args: dict, schema: dict) -> dict:
    """The arguments to call with, once a person allowed the call when the server's `approve` list names the tool."""
    if not server.needs_approval(tool):
        return args
    proposal = {"server": server.name, "tool": tool, "args": args}
    key = proposal_key(KIND, proposal)
    if key not in ctx._approved:
        raise NeedsApproval(KIND, f"Node {ctx.node_id} asks to call {tool} of the MCP server {server.name} with "
                                  f"{json.dumps(args, ensure_ascii=False)[:500]}. Go ahead?", proposal)
    edited = ctx._approved[key]
    if isinstance(edited, dict) and isinstance(edited.get("args"), dict):
        args = edited["args"]
        problems = validate(args, schema)
        if problems:
            raise ArgumentsInvalid(server.name, tool, [f"as a person edited them: {p}" for p in problems])
    return args


def call(ctx, client, server: str, tool: str, args: dict) -> dict:
    """Call the tool (or replay the call a fork's parent recorded), record it, and return the node's result."""
    started = time.time()
    recorded = replayed(ctx, server, tool, args)
    try:
        if recorded is not None:
            result, source = recorded
        else:
            result, source = client.call(server, tool, args, cancelled=lambda: ctx._cancelled), None
    except McpError as exc:
        _note(ctx, server, tool, args, started, error=str(exc))
        raise
    error = str(ToolFailed(server, tool, _message(result))) if result["is_error"] else None
    _note(ctx, server, tool, args, started, result=result, error=error, replayed_from=source)
    if error:
        raise ToolFailed(server, tool, _message(result))
    value = result["structured"] if result["structured"] is not None else result["text"]
    return {"server": server, "tool": tool, "result": value}


def _message(result: dict) -> str:
    return (result["text"] or json.dumps(result["content"])[:ERROR_KEEP_CHARS]).strip() or "(the server gave no message)"


def _note(ctx, server: str, tool: str, args: dict, started: float, *, result: dict | None = None,
          error: str | None = None, replayed_from: str | None = None) -> None:
    """The call in the node's `tool_calls` event: what metrics count, what the UI shows, what forks replay."""
    name = f"mcp:{server}/{tool}"
    entry: dict[str, Any] = {"tool": name, "ok": error is None, "ms": round((time.time() - started) * 1000, 3),
                             "server": server, "mcp_tool": tool, "args": args, "round": ctx.round, "attempt": ctx.attempt}
    if error:
        entry["error"] = error[:ERROR_KEEP_CHARS]
    if result is not None:
        if len(json.dumps(result, ensure_ascii=False, default=repr)) <= RESULT_KEEP_CHARS:
            entry["result"] = result
        else:
            entry["result_dropped"] = "larger than the history keeps; a fork calls the tool again"
    if replayed_from:
        entry["replayed_from"] = replayed_from
    ctx._tool_calls.append(entry)
    ctx._services.tracer.tool_call(ctx, name, started, error)


def replayed(ctx, server: str, tool: str, args: dict) -> tuple[dict, str] | None:
    """In a fork: the answer the run it came from recorded for this same call of this same execution, and
    that run's id (a fork of a fork finds it in its parent, which recorded it when it replayed it in turn)."""
    store = ctx._services.store
    parent = store.run(ctx.run_id).get("forked_from")
    if not parent:
        return None
    wanted = _canonical(args)
    for event in store.events(parent, node_id=ctx.node_id, states=False):
        if event["kind"] != "tool_calls" or not event["detail"]:
            continue
        for entry in loads(event["detail"]).get("calls") or []:
            if (entry.get("server"), entry.get("mcp_tool"), entry.get("round"), entry.get("attempt")) == (
                    server, tool, ctx.round, ctx.attempt) and "result" in entry and _canonical(entry.get("args")) == wanted:
                return entry["result"], parent
    return None


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)
