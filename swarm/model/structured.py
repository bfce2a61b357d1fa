"""Pure functions for structured replies: find the JSON in a model's text, and check it against a schema."""

from __future__ import annotations

import ast
import functools
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


ANY_OBJECT = {"type": "object"}


def validate(data: Any, schema: dict, path: str = "$") -> list[str]:
    """Check `data` against a JSON Schema (draft 2020-12, by the `jsonschema` library: $ref, pattern, oneOf,
    allOf, formats' siblings and the rest all count); return the problems found, one line each with its
    path (`$.steps[0]: missing required property 'do'`), empty when valid. A schema that is itself
    invalid is one problem saying so."""
    if not isinstance(schema, dict) or not schema:
        return []
    if schema == ANY_OBJECT and isinstance(data, dict):  # a script's default input_schema: nothing more to check
        return []
    from jsonschema.exceptions import SchemaError  # imported on first use: the CLI starts without it

    try:
        validator = _validator(json.dumps(schema, sort_keys=True, default=str))
    except SchemaError as exc:
        return [f"{path}: the schema itself is invalid ({exc.message}); fix the script's input_schema"]
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    problems: list[str] = []
    for error in errors:
        problems += _described(error, path)
    return list(dict.fromkeys(problems))  # `required` reports each missing name once per error: once is enough


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str):
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    schema = json.loads(schema_json)
    cls = validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def _where(error, root: str) -> str:
    where = root
    for part in error.absolute_path:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    return where


def _described(error, root: str) -> list[str]:
    """One jsonschema error in this module's words (what was expected, what came), at its path."""
    where, data, wanted, kind = _where(error, root), error.instance, error.validator_value, error.validator
    if kind == "type":
        names = wanted if isinstance(wanted, list) else [wanted]
        return [f"{where}: expected {' or '.join(names)}, got {_type_name(data)}"]
    if kind == "required":
        return [f"{where}: missing required property {name!r}" for name in wanted if isinstance(data, dict) and name not in data]
    if kind == "additionalProperties" and wanted is False:
        allowed = ", ".join(error.schema.get("properties", {})) or "none"
        extra = [k for k in data if k not in error.schema.get("properties", {})] if isinstance(data, dict) else []
        return [f"{where}: unexpected property {key!r} (allowed: {allowed})" for key in extra] or [f"{where}: {error.message}"]
    if kind == "enum":
        return [f"{where}: {data!r} is not one of {wanted!r}"]
    if kind == "const":
        return [f"{where}: expected {wanted!r}, got {data!r}"]
    if kind in ("anyOf", "oneOf") and error.context:
        firsts = {}
        for sub in error.context:  # the first problem of each branch, as a reader would look for the near miss
            firsts.setdefault(sub.schema_path[0] if sub.schema_path else 0, _described(sub, root)[0])
        return [f"{where}: matches none of {kind} ({'; '.join(firsts.values())})"]
    if kind == "minItems":
        return [f"{where}: needs at least {wanted} items, has {len(data)}"]
    if kind == "maxItems":
        return [f"{where}: allows at most {wanted} items, has {len(data)}"]
    if kind == "minLength":
        return [f"{where}: shorter than {wanted} characters"]
    if kind == "maxLength":
        return [f"{where}: longer than {wanted} characters"]
    if kind == "minimum":
        return [f"{where}: {data} is less than the minimum {wanted}"]
    if kind == "maximum":
        return [f"{where}: {data} is more than the maximum {wanted}"]
    return [f"{where}: {error.message}"]


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


def repaired_json(text: str, schema: dict | None = None) -> Any:
    """The JSON a broken reply meant, as the `json-repair` library reads it (unquoted keys, missing brackets or
    quotes, comments, a reply cut short), when that reading fits `schema` (or, with no schema, is an object or
    a list); else None. Tried before paying for a corrective model call."""
    from json_repair import repair_json

    try:
        value = repair_json(text, return_objects=True, skip_json_loads=True)
    except Exception:  # noqa: BLE001 — a reply it cannot read is a reply to correct, not a crash
        return None
    if schema is None:
        return value if isinstance(value, (dict, list)) and value else None
    if value in ("", None) or validate(value, schema):
        return None
    return value


def repair_request(problem: str, schema: dict | None) -> str:
    """The user message asking the model to fix a reply that did not parse or validate."""
    wanted = f"valid JSON matching this JSON schema: {json.dumps(schema)}" if schema is not None else "valid JSON"
    return (
        f"Your last reply could not be used: {problem}. "
        f"Reply again with only {wanted}. No prose, no code fences."
    )
