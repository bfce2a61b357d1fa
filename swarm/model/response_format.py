"""Which `response_format` to ask the endpoint for, stepping down when the server does not support one."""

from __future__ import annotations

import threading
from typing import Any

# Strongest first; a server that rejects one level is asked for the next.
LEVELS = ("json_schema", "json_object", "off")
_START = {"auto": "json_schema", "json_schema": "json_schema", "json_object": "json_object", "off": "off"}


class FormatLadder:
    """Remembers, for one client, the strongest response_format the endpoint accepted.

    Starts at the level `[model].structured` asks for and only ever steps down,
    so after one rejection later calls go straight to what works.
    """

    def __init__(self, structured: str) -> None:
        self._ceiling = LEVELS.index(_START[structured])
        self._lock = threading.Lock()

    def level_for(self, *, schema: dict | None, json: bool) -> str:
        """The level to use for a call wanting `schema` (or any JSON if `json`)."""
        if schema is None and not json:
            return "off"
        wanted = LEVELS.index("json_schema" if schema is not None else "json_object")
        with self._lock:
            return LEVELS[max(wanted, self._ceiling)]

    def step_down(self, rejected: str) -> str | None:
        """The server rejected `rejected`: remember that; return the next level to try, or None."""
        if rejected == "off":
            return None
        lower = LEVELS.index(rejected) + 1
        with self._lock:
            self._ceiling = max(self._ceiling, lower)
        return LEVELS[lower]


def response_format(level: str, schema: dict | None) -> dict[str, Any] | None:
    """The `response_format` request field for `level`, or None to leave it out."""
    if level == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
    if level == "json_object":
        return {"type": "json_object"}
    return None


def rejects_response_format(status: int, message: str) -> bool:
    """Does this 4xx look like the server refusing the response_format we sent?"""
    text = message.lower()
    return status in (400, 422) and any(
        hint in text for hint in ("response_format", "response format", "json_schema", "json_object")
    )
