"""Goal files: what a file dropped into the watched folder asks for, read and checked without side effects.

`.md` and `.txt` files are the goal text itself. `.json` and `.toml` files are a table with
`goal` and, optionally, budgets (`max_nodes`, `max_depth`, `max_tokens`, `max_cost_usd`,
`max_wall_s`), `model` (the model name for this run) and `script` (the root node script).
Anything else is refused with a `BadGoalFile` whose message says what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from typing import Any

from swarm.budgets import KEYS as BUDGET_KEYS
from swarm.budgets import WHOLE as WHOLE_BUDGETS
from swarm.budgets import budget_problem
from swarm.errors import SwarmError

TEXT_SUFFIXES = (".md", ".txt")
TABLE_SUFFIXES = (".json", ".toml")
SUFFIXES = TEXT_SUFFIXES + TABLE_SUFFIXES

# Names that copy tools and editors use for files still being written: never taken.
PARTIAL_PREFIXES = (".", "~")
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", ".swx", "~")

KEYS = ("goal", "model", "script", *BUDGET_KEYS)

EXAMPLE = 'goal = "Plan a three-day trip to Lisbon"\nmax_nodes = 50\nmax_cost_usd = 0.5'


class BadGoalFile(SwarmError):
    """A goal file that cannot become a run; the message says what is wrong and what to do."""

    exit_code = 2


@dataclass(frozen=True)
class Goal:
    """One goal, as a file asked for it."""

    text: str
    script: str | None = None  # None: the engine's [run].root_script
    budgets: dict[str, float] = field(default_factory=dict)
    model: str | None = None


def is_partial(name: str) -> bool:
    """True for names of files still being written by convention (hidden, .tmp, .part, editor swap files)."""
    return name.startswith(PARTIAL_PREFIXES) or name.lower().endswith(PARTIAL_SUFFIXES)


def parse_goal(name: str, raw: bytes, max_bytes: int, size: int | None = None) -> Goal:
    """Read a goal file's bytes; raises BadGoalFile when they cannot become a run.

    `size` is the file's size when only its first max_bytes + 1 bytes were read.
    """
    suffix = _suffix(name)
    if suffix not in SUFFIXES:
        raise BadGoalFile(
            f"{name}: files of type {suffix or '(no extension)'} are not goal files; "
            f"name it .md or .txt (the text is the goal), or .json/.toml (a table with `goal`)"
        )
    if max(len(raw), size or 0) > max_bytes:
        raise BadGoalFile(
            f"{name} is too large ({max(len(raw), size or 0)} bytes; the most taken is {max_bytes}); shorten the goal, "
            "or raise [daemon].max_goal_bytes in swarm.toml"
        )
    if not raw.strip():
        raise BadGoalFile(f"{name} is empty; write the goal in it (e.g. \"Plan a three-day trip to Lisbon\") and drop it again")
    if b"\x00" in raw:
        raise BadGoalFile(f"{name} is a binary file, not text; a goal file is UTF-8 text (.md, .txt, .json or .toml)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadGoalFile(
            f"{name} is not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); save it as UTF-8 and drop it again"
        ) from None
    if suffix in TEXT_SUFFIXES:
        return Goal(text=text.strip())
    return _from_table(name, _read_table(name, suffix, text))


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _read_table(name: str, suffix: str, text: str) -> dict[str, Any]:
    try:
        if suffix == ".json":
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as exc:
                raise BadGoalFile(
                    f"{name} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                    'fix it, e.g. {"goal": "Plan a three-day trip to Lisbon", "max_nodes": 50}'
                ) from None
        else:
            try:
                doc = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise BadGoalFile(f"{name} is not valid TOML ({exc}); fix it, e.g.\n{EXAMPLE}") from None
    except RecursionError:  # [[[[...]]]] thousands deep: the parsers give up; so does the daemon, for this file only
        raise BadGoalFile(
            f"{name} is nested too deeply (lists or tables inside each other hundreds of levels deep); "
            f"a goal file is one flat table, e.g.\n{EXAMPLE}"
        ) from None
    if not isinstance(doc, dict):
        raise BadGoalFile(
            f"{name} holds a JSON {type(doc).__name__}, not an object; write "
            '{"goal": "...", ...} (or use a .txt file for the plain goal text)'
        )
    return doc


def _from_table(name: str, doc: dict[str, Any]) -> Goal:
    """The goal a table asks for; every problem of the table is reported at once, not only the first."""
    problems: list[str] = []
    unknown = sorted(set(doc) - set(KEYS))
    if unknown:
        problems.append(f"unknown key(s) {', '.join(_text(k) for k in unknown)}; a goal file may hold only {', '.join(KEYS)}")
    goal = doc.get("goal")
    if goal is None:
        problems.append("it has no `goal`; add one (say what the swarm should do)")
    elif problem := _string_problem(goal):
        problems.append(f"`goal` must be {problem} (got {_shown(goal)}); say what the swarm should do")
    budgets: dict[str, float] = {}
    for key in BUDGET_KEYS:
        if key not in doc:
            continue
        value = doc[key]
        if problem := budget_problem(key, value):
            problems.append(f"`{key}` must be {problem} (got {_shown(value)}); fix it or leave it out")
        else:
            budgets[key] = value if key in WHOLE_BUDGETS else float(value)
    extra = {}
    for key in ("model", "script"):
        if key in doc:
            value = doc[key]
            if problem := _string_problem(value):
                problems.append(f"`{key}` must be {problem} (got {_shown(value)}); fix it or leave it out")
            else:
                extra[key] = value.strip()
    if len(problems) == 1:
        raise BadGoalFile(f"{name}: {problems[0]}" + (f"; e.g.\n{EXAMPLE}" if goal is None else ""))
    if problems:
        listed = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
        raise BadGoalFile(f"{name} has {len(problems)} problems: {listed}; e.g.\n{EXAMPLE}")
    return Goal(text=goal.strip(), budgets=budgets, **extra)


def _string_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "a non-empty string"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # JSON may spell a lone surrogate ("\\ud800"): no text can hold it
        return f"valid text (it holds the lone surrogate \\u{ord(value[exc.start]):04x})"
    return None


def _text(value: str) -> str:
    """A key as it can be shown anywhere (a JSON key may hold a lone surrogate)."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _shown(value: Any) -> str:
    try:
        text = _text(repr(value))
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply to show"
    return text if len(text) <= 60 else text[:57] + "..."
