"""The plain case of a configuration, checked without pydantic: every value exactly of its setting's type.

Loading pydantic and pydantic-settings costs about 0.1 s of CPU, more than a reading command such as
`swarm checkout` spends on its own work. Most configurations hold nothing but plain values: a bool where a
bool goes, a whole number where one goes, a finite float within its bounds, a string (one of the words where
words are asked for), a list of strings, an empty table; and from the environment, only strings for string
settings. plain_values accepts exactly those, with the values pydantic would give. Anything else (a whole
number for a float, "yes" for a bool from the environment, a table of prices, a value out of bounds, an
unknown key) returns None, and swarm/config_model.py's pydantic-settings models read and check it, and
word any error: they stay the authority, this only spares them the cases with nothing to convert or refuse.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import cache
from typing import Any, get_type_hints

from swarm.settings import BOUNDS, ENV_SHORTCUTS, ONE_OF, SECTIONS

RAW = {("mcp", "servers")}  # tables checked by their own code (swarm/mcp/settings.py), passed through as read


def variable(section: str, key: str) -> str:
    return f"SWARM_{section.upper()}_{key.upper()}"


def variables(env: Mapping[str, str]) -> dict[str, str]:
    """The SWARM_<SECTION>_<KEY> variables of `env` that name a setting, a shortcut under the name it stands for.

    Other SWARM_* variables (SWARM_CONFIG, SWARM_LOG_LEVEL, a misspelt name) are not settings: left alone.
    """
    found = {variable(*target): env[var] for var, target in ENV_SHORTCUTS.items() if env.get(var)}
    return found | {name: value for name, value in env.items() if name in _targets()}


def origin(section: str, key: str, env: Mapping[str, str], source: str) -> tuple[str, bool]:
    """Where the value of [section].key came from, as a person would look for it, and whether from the environment."""
    if env.get(name := variable(section, key)) is not None:
        return f"${name}", True
    for var, target in ENV_SHORTCUTS.items():
        if target == (section, key) and env.get(var):
            return f"${var}", True
    return f"{source} [{section}].{key}", False


@cache
def _targets() -> dict[str, tuple[str, str]]:
    """SWARM_<SECTION>_<KEY> -> (section, key), for every setting."""
    return {variable(section, f.name): (section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}


@cache
def _fields() -> dict[str, dict[str, tuple[Any, dict, tuple | None]]]:
    """section -> key -> (type hint, bounds, words)."""
    bounds = {(section, key): b for section, keys, b in BOUNDS for key in keys}
    words = {(section, key): w for section, key, w in ONE_OF}
    return {section: {key: (hint, bounds.get((section, key), {}), words.get((section, key)))
                      for key, hint in get_type_hints(cls).items() if key in {f.name for f in dataclasses.fields(cls)}}
            for section, cls in SECTIONS.items()}


def _within(value: float, bounds: dict) -> bool:
    return (value >= bounds.get("ge", -math.inf) and value > bounds.get("gt", -math.inf)
            and value <= bounds.get("le", math.inf) and value < bounds.get("lt", math.inf))


def _plain(section: str, key: str, value: Any, from_env: bool) -> tuple[bool, Any]:
    """(True, the value pydantic gives) when `value` is plainly right for [section].key, else (False, None)."""
    if (section, key) in RAW:
        return not from_env, value
    hint, bounds, words = _fields()[section][key]
    kind = type(value)
    if words is not None:
        return kind is str and value in words, value
    if from_env:  # text: only a string setting takes it as it is
        return kind is str and (hint is str or (hint == str | None and value != "")), value
    if hint is bool or hint is int:
        return kind is hint and (hint is bool or _within(value, bounds)), value
    if hint is float:
        return kind is float and math.isfinite(value) and _within(value, bounds), value
    if hint is str or hint == str | None:
        return kind is str and (hint is str or value != ""), value
    if hint == list[str]:
        return kind is list and all(type(item) is str for item in value), list(value)
    if getattr(hint, "__origin__", None) is dict:
        return kind is dict and not value, {}
    return False, None


def plain_values(raw: dict[str, Any], env: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], set] | None:
    """As config_model.read: (every setting's value by section, the (section, key) pairs given), when every value
    given in `raw` (swarm.toml's tables) and in the environment is plain; None when pydantic must look."""
    fields = _fields()
    given: dict[str, dict[str, Any]] = {}
    for section, values in raw.items():
        if section not in fields or not isinstance(values, dict) or not values.keys() <= fields[section].keys():
            return None
        for key, value in values.items():
            ok, given.setdefault(section, {})[key] = _plain(section, key, value, False)
            if not ok:
                return None
    for name, value in variables(env).items():
        section, key = _targets()[name]
        ok, given.setdefault(section, {})[key] = _plain(section, key, value, True)
        if not ok:
            return None
    out: dict[str, dict[str, Any]] = {}
    for section, cls in SECTIONS.items():
        mine = given.get(section, {})
        out[section] = {f.name: mine[f.name] if f.name in mine else
                        f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                        for f in dataclasses.fields(cls)}
    return out, {(section, key) for section, keys in given.items() for key in keys}
