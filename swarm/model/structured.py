"""Pure functions for structured replies: find the JSON in a model's text, and check it against a schema."""

from __future__ import annotations

import json
import re
from typing import Any

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_OPENERS = {"{": "}", "[": "]"}


def extract_json(text: str) -> Any:
    """Return the JSON value in a model reply, tolerating the ways models wrap it.

    Tried in order: the whole text; fenced ```json blocks, then other fenced
    blocks; then the first balanced {...} or [...] span in the prose that parses.
    Raises ValueError saying why nothing usable was found.
    """
    if text is None or not str(text).strip():
        raise ValueError("the reply is empty; expected JSON")
    text = str(text)
    try:
        return json.loads(text)
    except ValueError:
        pass

    problem = None
    # Blocks tagged json come first: a reply may also quote code in other fences.
    fenced = sorted(_FENCE.findall(text), key=lambda block: block[0].lower() != "json")
    for tag, body in fenced:
        try:
            return json.loads(body)
        except ValueError as error:
            problem = problem or f"the ```{tag} block does not parse ({error})"

    start = _next_opener(text, 0)
    while start is not None:
        end = _balanced_end(text, start)
        if end is None:
            problem = problem or f"the {text[start]} at character {start} is never closed"
        else:
            try:
                return json.loads(text[start : end + 1])
            except ValueError as error:
                problem = problem or f"the span at character {start} does not parse ({error})"
        start = _next_opener(text, start + 1)
    raise ValueError(problem or "the reply contains no JSON object or array")


def _next_opener(text: str, start: int) -> int | None:
    positions = [p for p in (text.find("{", start), text.find("[", start)) if p != -1]
    return min(positions) if positions else None


def _balanced_end(text: str, start: int) -> int | None:
    """Index of the bracket closing the one at `start`, skipping brackets inside strings."""
    stack = [_OPENERS[text[start]]]
    in_string = False
    escaped = False
    for index in range(start + 1, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _OPENERS:
            stack.append(_OPENERS[char])
        elif char in "}]":
            if char != stack.pop():
                return None
            if not stack:
                return index
    return None


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(data: Any, schema: dict, path: str = "$") -> list[str]:
    """Check `data` against a JSON-schema subset; return the problems found (empty = valid).

    Supported: type (a name or a list of names), enum, const, required,
    properties, additionalProperties (false or a schema), items, minItems,
    maxItems, minLength, maxLength, minimum, maximum, anyOf.
    """
    if not isinstance(schema, dict) or not schema:
        return []
    problems: list[str] = []

    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_TYPE_CHECKS.get(name, lambda v: True)(data) for name in names):
            return [f"{path}: expected {' or '.join(names)}, got {_type_name(data)}"]

    if "enum" in schema and data not in schema["enum"]:
        problems.append(f"{path}: {data!r} is not one of {schema['enum']!r}")
    if "const" in schema and data != schema["const"]:
        problems.append(f"{path}: expected {schema['const']!r}, got {data!r}")

    if "anyOf" in schema:
        branches = [validate(data, branch, path) for branch in schema["anyOf"]]
        if all(branches):
            problems.append(f"{path}: matches none of anyOf ({'; '.join(b[0] for b in branches)})")

    if isinstance(data, dict):
        problems += _validate_object(data, schema, path)
    elif isinstance(data, list):
        problems += _validate_array(data, schema, path)
    elif isinstance(data, str):
        if len(data) < schema.get("minLength", 0):
            problems.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(data) > schema["maxLength"]:
            problems.append(f"{path}: longer than {schema['maxLength']} characters")
    elif _TYPE_CHECKS["number"](data):
        if "minimum" in schema and data < schema["minimum"]:
            problems.append(f"{path}: {data} is less than the minimum {schema['minimum']}")
        if "maximum" in schema and data > schema["maximum"]:
            problems.append(f"{path}: {data} is more than the maximum {schema['maximum']}")
    return problems


def _validate_object(data: dict, schema: dict, path: str) -> list[str]:
    problems = [f"{path}: missing required property {name!r}" for name in schema.get("required", []) if name not in data]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, value in data.items():
        if key in properties:
            problems += validate(value, properties[key], f"{path}.{key}")
        elif extra is False:
            problems.append(f"{path}: unexpected property {key!r} (allowed: {', '.join(properties) or 'none'})")
        elif isinstance(extra, dict):
            problems += validate(value, extra, f"{path}.{key}")
    return problems


def _validate_array(data: list, schema: dict, path: str) -> list[str]:
    problems = []
    if len(data) < schema.get("minItems", 0):
        problems.append(f"{path}: needs at least {schema['minItems']} items, has {len(data)}")
    if "maxItems" in schema and len(data) > schema["maxItems"]:
        problems.append(f"{path}: allows at most {schema['maxItems']} items, has {len(data)}")
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(data):
            problems += validate(item, items, f"{path}[{index}]")
    return problems


def _type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPE_CHECKS[name](value):
            return name
    return type(value).__name__


def parse_structured(text: str, schema: dict | None = None) -> Any:
    """extract_json, then validate against `schema` if given; ValueError says what is wrong."""
    data = extract_json(text)
    if schema is not None:
        problems = validate(data, schema)
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise ValueError(f"the JSON does not match the schema: {'; '.join(problems[:5])}{more}")
    return data


def repair_request(problem: str, schema: dict | None) -> str:
    """The user message asking the model to fix a reply that did not parse or validate."""
    wanted = f"valid JSON matching this JSON schema: {json.dumps(schema)}" if schema is not None else "valid JSON"
    return (
        f"Your last reply could not be used: {problem}. "
        f"Reply again with only {wanted}. No prose, no code fences."
    )
