"""Probe calls: new inputs made from a goal's own examples, to tell candidate functions apart by behaviour.

Several candidates that all pass a goal's examples may still differ elsewhere (an empty list, a zero,
a reversed string), and a small model's mistakes tend to differ between samples while right answers
agree. So the candidates are run on probes — each example's call with one argument changed in a
type-preserving way — and the candidate agreeing most with the others is chosen (minimum Bayes risk
over execution, as in MBR-exec and CodeT). No model call is needed: the probes come from the examples,
their expected values are never claimed, only compared between candidates.
"""

from __future__ import annotations

import ast

from swarm.goal_examples import Example, all_examples

MOST = 24  # probe calls per goal at most
PER_ARGUMENT = 4  # changed values tried per argument of an example
LONGEST = 60  # longest string or list a probe builds


def probe_calls(goal: str) -> list[str]:
    """The goal's example calls, then calls with one literal argument changed, in a fixed order (no
    randomness: a replayed run probes the same). Empty when no example call has literal arguments."""
    calls: list[str] = []
    rows: list[list[str]] = []
    for example in all_examples(goal):
        parsed = _call(example)
        if parsed is None:
            continue
        name, args = parsed
        calls.append(_render(name, args))
        row = []
        for position, value in enumerate(args):
            for changed in variants(value)[:PER_ARGUMENT]:
                row.append(_render(name, [*args[:position], changed, *args[position + 1:]]))
        rows.append(row)
    for column in range(max((len(r) for r in rows), default=0)):  # round-robin: every example gets probes
        calls += [row[column] for row in rows if column < len(row)]
    return list(dict.fromkeys(calls))[:MOST]


def variants(value: object) -> list[object]:
    """Values of the same type near `value`: the edge cases hidden tests like (empty, zero, one, reversed)."""
    if isinstance(value, bool):
        found: list[object] = [not value]
    elif isinstance(value, int):
        found = [0, 1, value + 1, -value if value else -1, value * 2 + 1]
    elif isinstance(value, float):
        found = [0.0, -value if value else -1.5, value + 0.5, value * 2]
    elif isinstance(value, str):
        found = ["", value[::-1], value.upper() if value != value.upper() else value.lower(), value[1:], value + value[:1]]
    elif isinstance(value, (list, tuple)):
        kind = type(value)
        items = list(value)
        found = [kind(), kind(items[::-1]), kind(items[1:]), kind(items + items[:1])]
        if items:
            found.insert(1, kind(_sorted(items)))
            near = variants(items[0])
            if near:
                found.append(kind([near[-1], *items[1:]]))
    elif isinstance(value, dict):
        found = [{}, dict(list(value.items())[1:])] if value else []
    else:
        return []
    unique: dict[str, object] = {}
    for v in found:
        unique.setdefault(_key(v), v)
    return [v for k, v in unique.items() if _small(v) and k != _key(value)]


def probe_examples(calls: list[str]) -> list[Example]:
    """The probe calls as examples to run (their expected value is unknown, so never compared)."""
    return [Example(call, "?") for call in calls]


def agreement_pick(results: list[list[str] | None], prefer: int = 0) -> tuple[int, list[int]]:
    """The candidate whose probe results agree most with the others' (summed over probes and candidates),
    with each candidate's score. A candidate whose probes could not run at all scores nothing; ties go to
    `prefer` (the model's most likely answer), then to the earlier candidate."""
    scores = []
    for i, mine in enumerate(results):
        if mine is None:
            scores.append(-1)
            continue
        scores.append(sum(1 for j, theirs in enumerate(results) if j != i and theirs is not None
                          for a, b in zip(mine, theirs) if a == b))
    order = sorted(range(len(results)), key=lambda i: (-scores[i], i != prefer, i))
    return (order[0] if order else prefer), scores


def _call(example: Example) -> tuple[str, list[object]] | None:
    try:
        node = ast.parse(example.call, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.keywords:
        return None
    try:
        return node.func.id, [ast.literal_eval(a) for a in node.args]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _render(name: str, args: list[object]) -> str:
    return f"{name}({', '.join(map(repr, args))})"


def _sorted(items: list) -> list:
    try:
        return sorted(items)
    except TypeError:
        return items


def _key(value: object) -> str:
    return f"{type(value).__name__}:{value!r}"


def _small(value: object) -> bool:
    if isinstance(value, (str, list, tuple, dict)):
        return len(value) <= LONGEST
    return not isinstance(value, int) or abs(value) <= 10**6
