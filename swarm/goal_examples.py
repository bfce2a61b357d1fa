"""A goal's own examples as a check of the code written for it.

A goal that asks for a function often shows how it behaves, doctest style (`>>> f(2)` then `4`).
Those examples are part of the goal, so checking the code against them is fair and cheap: the calls
run in the sandbox (appended to the code), their results come back as `repr` text, and the host
compares them with what the goal expects. A mismatch becomes an error the model can act on, for a
repair, before the code is taken as the answer.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass

PROMPT_LINE = re.compile(r"^\s*>>>\s?(.*)$")
STUB = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)
MOST = 12  # examples checked at most


@dataclass(frozen=True)
class Example:
    call: str
    expected: str | None  # None: a statement the later examples need (`>>> x = 4`), run, not compared


def examples_in(goal: str) -> list[Example]:
    """The `>>> ` lines of a goal, in order: expressions with the output line(s) that follow each, and
    the statements among them (run before the examples after them). Empty when no expression is shown."""
    found: list[Example] = []
    lines = goal.splitlines()
    i = 0
    while i < len(lines) and len(found) < MOST:
        match = PROMPT_LINE.match(lines[i])
        i += 1
        if not match:
            continue
        call = match.group(1).strip()
        want: list[str] = []
        while i < len(lines) and lines[i].strip() and not PROMPT_LINE.match(lines[i]) and '"""' not in lines[i]:
            want.append(lines[i].strip())
            i += 1
        if call and want and _is_expression(call):
            found.append(Example(call, " ".join(want)))
        elif call and not want and not _is_expression(call):
            found.append(Example(call, None))
    return found if any(e.expected is not None for e in found) else []


# A spec line of prose: `f(1, 2) == 3`, `f("ab") ==> "AB"`, `f(3) = True`, `f(0) -> 0`, `f(x) => [1]`.
SPEC_LINE = re.compile(r"^\s*(?:>>>\s*)?([A-Za-z_]\w*\(.*\))\s*(?:==>|=>|->|==|=)\s*(.+?)\s*$")


def spec_examples(goal: str) -> list[Example]:
    """Examples a goal states in prose rather than as doctests, for the functions its stub declares: lines like
    `f(1, 2) == 3`, `f("ab") ==> "AB"` or `f(3) = True`, whose left side is a call of such a function and whose
    right side is a Python literal. Anything less clear is left out rather than guessed."""
    asked = set(STUB.findall(goal))
    found: list[Example] = []
    for line in goal.splitlines():
        match = SPEC_LINE.match(line)
        if not match or len(found) >= MOST:
            continue
        call, expected = match.group(1), match.group(2).rstrip(".,;")
        if call.split("(", 1)[0] not in asked or not _is_expression(call) or not _is_literal(expected):
            continue
        if PROMPT_LINE.match(line) and not line.split(">>>", 1)[1].strip().startswith(call):
            continue
        found.append(Example(call, expected))
    return found


def all_examples(goal: str) -> list[Example]:
    """The goal's doctest examples, then its prose ones (each call once), at most MOST."""
    doctests = examples_in(goal)
    seen = {e.call for e in doctests}
    return (doctests + [e for e in spec_examples(goal) if e.call not in seen])[:MOST]


def unimported_modules(code: str, importable: list[str]) -> list[str]:
    """Modules the code uses by name (`math.sqrt(...)`) but never imports or defines — a small model's
    commonest slip, invisible until the function is called. Only names of importable modules count, so a
    name the sandbox itself provides is never mistaken for one."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    bound: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return []  # a star import may bring anything: say nothing
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound |= set(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    modules = {name.split(".")[0] for name in importable}
    return sorted(name for name in used - bound if name in modules)


def missing_functions(goal: str, code: str) -> list[str]:
    """The functions the goal's own stub declares (`def name(` at the start of a line) that the code does not
    define: a repair that only prints an example's result has lost the function the goal asked for."""
    asked = STUB.findall(goal)
    if not asked:
        return []
    try:
        defined = {n.name for n in ast.walk(ast.parse(code)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    except SyntaxError:
        return []
    return [name for name in dict.fromkeys(asked) if name not in defined]


def check_code(code: str, examples: list[Example]) -> str:
    """The code followed by the examples' calls; its last value is the JSON list of their results' repr
    (or the error each raised), so one sandbox run answers every example."""
    lines = [code.rstrip("\n"), "", "_swarm_seen = []"]
    for example in examples:
        if example.expected is None:
            lines += ["try:", f"    {example.call}", "except Exception:", "    pass"]
            continue
        lines += [
            "try:",
            f"    _swarm_seen.append(repr({example.call}))",
            "except Exception as _swarm_error:",
            "    _swarm_seen.append('raised ' + repr(_swarm_error))",
        ]
    lines.append("_swarm_seen")
    return "\n".join(lines) + "\n"


def mismatches(examples: list[Example], seen: object) -> list[str]:
    """One line per example whose result differs from what the goal shows."""
    compared = [e for e in examples if e.expected is not None]
    if not isinstance(seen, list) or len(seen) != len(compared):
        return []  # the check itself did not run as planned: say nothing rather than something wrong
    return [f"{e.call} gave {got}, but the task says {e.expected}{where_they_differ(str(got), e.expected)}"
            for e, got in zip(compared, seen) if not same(str(got), e.expected)]


def where_they_differ(got: str, expected: str) -> str:
    """For two lists, tuples or strings, where they part (a small model finds its bug faster when told
    "at index 0: 5 instead of 2" than when shown two long values): empty when it cannot say."""
    try:
        a, b = ast.literal_eval(got), ast.literal_eval(expected)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ""
    if not (isinstance(a, (list, tuple, str)) and type(a) is type(b)):
        return ""
    if len(a) != len(b):
        return "" if isinstance(a, str) else f" (length {len(a)} instead of {len(b)})"  # 'YES' for "NO": nothing to add
    wrong = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if not wrong or isinstance(a, str) and len(wrong) > 3:
        return "" if not wrong else f" (first different at index {wrong[0]})"
    shown = ", ".join(f"index {i}: {a[i]!r} instead of {b[i]!r}" for i in wrong[:3])
    return f" ({shown}{', ...' if len(wrong) > 3 else ''})"


def same(got: str, expected: str) -> bool:
    """Equal as Python values when both read as literals (so 0.5 == 0.50 and quotes do not matter), else as text."""
    try:
        return ast.literal_eval(got) == ast.literal_eval(expected)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return " ".join(got.split()) == " ".join(expected.split()) or _json_same(got, expected)


def _json_same(got: str, expected: str) -> bool:
    try:
        return json.loads(got) == json.loads(expected)
    except (ValueError, TypeError):
        return False


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _is_expression(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True
