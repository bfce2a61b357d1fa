"""Hybrid execution (seed 002): a model's reply is either one direct tool call or a Python block.

A tool call — JSON {"tool": NAME, "args": {...}}, bare or in a ```json block or <tool> tags —
is the fast path for one atomic action and runs on the host. A Python block — ```python or
<python> tags — is for loops, conditions and several actions, and runs in the sandbox, where
the same tools are proxies back to the host.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from swarm.errors import SwarmError

PYTHON = re.compile(r"<python>\s*(.*?)\s*</python>|```(?:python|py)[ \t]*\n(.*?)```", re.DOTALL)
TOOL_TAG = re.compile(r"<tool>\s*(.*?)\s*</tool>", re.DOTALL)
JSON_FENCE = re.compile(r"```(?:json)?[ \t]*\n(.*?)```", re.DOTALL)


@dataclass
class ToolCall:
    tool: str
    args: dict[str, Any]


@dataclass
class PythonBlock:
    code: str


class ActionUnclear(SwarmError):
    """The reply is neither a tool call nor a Python block."""


def parse_action(text: str) -> ToolCall | PythonBlock:
    """Read a model reply as one action."""
    python = PYTHON.search(text)
    if python:
        return PythonBlock((python.group(1) or python.group(2)).strip() + "\n")
    for candidate in _json_candidates(text):
        try:
            data = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict) and isinstance(data.get("tool"), str):
            args = data.get("args", data.get("arguments", {}))
            if not isinstance(args, dict):
                raise ActionUnclear(f"the tool call's args must be an object, got {type(args).__name__}")
            return ToolCall(data["tool"], args)
    raise ActionUnclear(
        "the reply is neither a tool call ({\"tool\": NAME, \"args\": {...}}) nor a ```python block; "
        f"it began: {text.strip()[:120]!r}"
    )


def _json_candidates(text: str) -> list[str]:
    tagged = TOOL_TAG.search(text)
    if tagged:
        return [tagged.group(1)]
    return [m.group(1) for m in JSON_FENCE.finditer(text)] + [text.strip()]


def describe_tools(tools: dict[str, Any]) -> str:
    """One line per tool, for a prompt: name(arguments) — first line of its docstring."""
    import inspect

    lines = []
    for name, fn in sorted(tools.items()):
        try:
            signature = str(inspect.signature(fn))
        except (TypeError, ValueError):
            signature = "(...)"
        doc = (inspect.getdoc(fn) or "").split("\n")[0]
        lines.append(f"- {name}{signature}: {doc}")
    return "\n".join(lines)
