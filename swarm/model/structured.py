"""Pure functions for structured replies: find the JSON in a model's text, and check it against a schema."""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any, Iterator

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_OPENERS = {"{": "}", "[": "]"}
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_LITERAL_MAX_CHARS = 100_000  # ast.literal_eval is safe, but its parse tree grows with the text
_MAX_CANDIDATES = 50


def extract_json(text: str) -> Any:
    """Return the JSON value in a model reply, tolerating the ways models wrap and misspell it.

    Tried in order: the whole text; fenced ```json blocks, then other fenced blocks; then each
    balanced {...} or [...] span in the prose. Each is read as JSON, then as JSON with trailing
    commas, then as a Python literal (single quotes, True/False/None; ast.literal_eval, which
    evaluates nothing). Raises ValueError saying why nothing usable was found.
    """
    problems: list[str] = []
    for value in _candidates(text, problems):
        return value
    raise ValueError(_nothing_found(text, problems))


def _candidates(text: str, problems: list[str]) -> Iterator[Any]:
    """Every JSON value the reply may mean, most likely first; why each other place failed goes to `problems`."""
    if text is None or not str(text).strip():
        return
    text = str(text)
    whole = _read(text)
    if whole is not _NOTHING:
        yield whole
        return
    # Blocks tagged json come first: a reply may also quote code in other fences.
    fenced = sorted(_FENCE.findall(text), key=lambda block: block[0].lower() != "json")
    found = 0
    for tag, body in fenced:
        value = _read(body)
        if value is _NOTHING:
            problems.append(f"the ```{tag} block does not parse ({_json_error(body)})")
            continue
        found += 1
        yield value
    start = _next_opener(text, 0)
    while start is not None and found < _MAX_CANDIDATES:
        end = _balanced_end(text, start)
        if end is None:
            problems.append(f"the {text[start]} at character {start} is never closed")
        else:
            value = _read(text[start : end + 1])
            if value is not _NOTHING:
                found += 1
                yield value
                start = _next_opener(text, end + 1)  # not the spans inside one that parsed: they are parts of it
                continue
            problems.append(f"the span at character {start} does not parse ({_json_error(text[start : end + 1])})")
        start = _next_opener(text, start + 1)


def _nothing_found(text: str, problems: list[str]) -> str:
    if text is None or not str(text).strip():
        return "the reply is empty; expected JSON"
    return problems[0] if problems else "the reply contains no JSON object or array"


_NOTHING = object()


def _read(candidate: str) -> Any:
    """The value `candidate` spells, as JSON, JSON with trailing commas, or a Python literal; _NOTHING if none."""
    try:
        return json.loads(candidate)
    except ValueError:
        pass
    if _TRAILING_COMMA.search(candidate):
        try:
            return json.loads(_without_trailing_commas(candidate))
        except ValueError:
            pass
    stripped = candidate.strip()
    if stripped[:1] in _OPENERS and len(stripped) <= _LITERAL_MAX_CHARS:
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return _NOTHING
        if _json_like(value):
            return _as_json(value)
    return _NOTHING


def _without_trailing_commas(text: str) -> str:
    """`text` without the commas right before a } or ], leaving the insides of strings alone."""
    out: list[str] = []
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "," and _TRAILING_COMMA.match(text, index):
            continue
        out.append(char)
    return "".join(out)


def _json_like(value: Any, depth: int = 0) -> bool:
    """Could this Python literal have come from JSON (str keys; lists, tuples, str, numbers, bools, None)?"""
    if depth > 200:
        return False
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_like(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_json_like(v, depth + 1) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)  # 1e999 is a Python literal (inf) but no JSON number
    return value is None or isinstance(value, (str, bool, int))


def _as_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    return value


def _json_error(candidate: str) -> str:
    try:
        json.loads(candidate)
    except ValueError as error:
        return str(error)
    return "no error"


def _next_opener(text: str, start: int) -> int | None:
    positions = [p for p in (text.find("{", start), text.find("[", start)) if p != -1]
    return min(positions) if positions else None


def _balanced_end(text: str, start: int) -> int | None:
    """Index of the bracket closing the one at `start`, skipping brackets inside strings ("..." or '...')."""
    stack = [_OPENERS[text[start]]]
    quote = ""
    escaped = False
    for index in range(start + 1, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
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
    """The JSON in a reply that fits `schema` (if given); ValueError says what is wrong.

    Every place extract_json would look is tried in its order, and the first value that fits
    the schema wins: a reply whose first block misses a field and whose second has it needs no
    corrective call. When none fits, the problem is that of the first value found.
    """
    problems: list[str] = []
    first_mismatch = None
    for data in _candidates(text, problems):
        if schema is None:
            return data
        mismatch = validate(data, schema)
        if not mismatch:
            return data
        first_mismatch = first_mismatch or mismatch
    if first_mismatch is None:
        raise ValueError(_nothing_found(text, problems))
    more = f" (and {len(first_mismatch) - 5} more)" if len(first_mismatch) > 5 else ""
    raise ValueError(f"the JSON does not match the schema: {'; '.join(first_mismatch[:5])}{more}")


def repair_request(problem: str, schema: dict | None) -> str:
    """The user message asking the model to fix a reply that did not parse or validate."""
    wanted = f"valid JSON matching this JSON schema: {json.dumps(schema)}" if schema is not None else "valid JSON"
    return (
        f"Your last reply could not be used: {problem}. "
        f"Reply again with only {wanted}. No prose, no code fences."
    )
