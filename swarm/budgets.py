"""Run budgets: the five limits a run stops at, and the values each may take.

One rule for every way a budget comes in (a goal file, `swarm run --max-*`, [run] in swarm.toml,
`Engine.create_run`): a finite number, whole for counts, more than 0 (`max_depth` may be 0: the
root node alone). NaN or infinity would compare false with everything and be stored as null.
"""

from __future__ import annotations

import math
from typing import Any

WHOLE = ("max_nodes", "max_depth", "max_tokens")
NUMBER = ("max_cost_usd", "max_wall_s")
KEYS = WHOLE + NUMBER

ZERO_ALLOWED = ("max_depth",)  # depth 0 is the root alone; no other budget means anything at 0


def wanted(key: str) -> str:
    """What `key` must be, in words: 'a whole number more than 0', 'a finite number more than 0', ..."""
    kind = "a whole number" if key in WHOLE else "a finite number"
    return f"{kind} {'0 or more' if key in ZERO_ALLOWED else 'more than 0'}"


def budget_problem(key: str, value: Any) -> str | None:
    """None when `value` may be the budget `key`, else what it must be ('a whole number more than 0')."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return wanted(key)
    if key in WHOLE and not isinstance(value, int):
        return wanted(key)
    if not math.isfinite(value) or value < 0 or (value == 0 and key not in ZERO_ALLOWED):
        return wanted(key)
    return None


def parse_budget(key: str, text: str) -> int | float:
    """A budget given as text (a command-line option); raises ValueError saying what it must be."""
    try:
        value: int | float = int(text) if key in WHOLE else float(text)
    except ValueError:
        raise ValueError(f"must be {wanted(key)} (got {text!r})") from None
    problem = budget_problem(key, value)
    if problem:
        raise ValueError(f"must be {problem} (got {text!r})")
    return value
