"""The text of the programs that run generated code in the sandbox, and what their results mean.

A generated script is `def execute(ctx)`; in the sandbox a short prelude builds the `ctx`
it gets: plain data (data, goal, reports, answer) and functions that either make a plain
dict the host turns into a real Spawn or AskHuman, or call back to the host through a tool
proxy (`ctx.llm`, `ctx.tools.NAME`). Values cross into the program as Python literals, so
the sandboxed code never receives a host object. Pure functions: nothing here runs anything.
"""

from __future__ import annotations

import ast
import json
from typing import Any, Iterable

LLM_TOOL = "swarm_llm"  # the host tool behind ctx.llm
SPAWN = "swarm_spawn"  # key of the dict ctx.spawn returns
ASK = "swarm_ask_human"  # key of the dict ctx.ask_human returns

PRELUDE = '''
class SwarmTools:
    pass


class SwarmContext:
    def llm(self, prompt, schema=None):
        if self.llm_used:
            raise RuntimeError("ctx.llm was called twice; a node makes at most one model call")
        self.llm_used = True
        return swarm_llm(prompt, schema)

    def child(self, script, **data):
        return {"script": script, "data": data}

    def spawn(self, children, policy="all"):
        return {"swarm_spawn": {"children": list(children), "policy": policy}}

    def ask_human(self, question, proposal=None):
        return {"swarm_ask_human": {"question": question, "proposal": proposal}}


ctx = SwarmContext()
ctx.llm_used = False
ctx.data = %(data)s
ctx.goal = str(ctx.data.get("goal", ""))
ctx.reports = %(reports)s
ctx.answer = %(answer)s
ctx.tools = SwarmTools()
%(tools)s
'''

CANNED_LLM = '''
def swarm_llm(prompt, schema=None):
    return {"text": %(reply)s, "data": %(data)s}
'''

NO_LLM = '''
def swarm_llm(prompt, schema=None):
    raise RuntimeError("this test calls ctx.llm but gives no llm_reply; add one to the test")
'''


def literal(value: Any) -> str:
    """A Python literal for a JSON value (its JSON round trip first, so only plain data passes)."""
    return repr(json.loads(json.dumps(value)))


def script_program(code: str, data: dict, reports: list[dict] | None = None, answer: Any = None,
                   tools: Iterable[str] = (), llm_reply: str | None = None, canned: bool = False) -> str:
    """Prelude + the script's code + a call of `execute(ctx)`, whose value is the program's output.

    With `canned`, ctx.llm answers `llm_reply` inside the sandbox (tests); otherwise it is the
    host tool LLM_TOOL.
    """
    tool_lines = "\n".join(f"ctx.tools.{name} = {name}" for name in sorted(tools))
    prelude = PRELUDE % {"data": literal(data), "reports": literal(reports), "answer": literal(answer), "tools": tool_lines}
    if canned:
        prelude += NO_LLM if llm_reply is None else CANNED_LLM % {"reply": literal(llm_reply), "data": literal(parsed(llm_reply))}
    return f"{prelude}\n{code}\n\nexecute(ctx)\n"


def tool_program(code: str, name: str, arguments: dict) -> str:
    """The tool's code + a call of `name(**arguments)`, whose value is the program's output."""
    return f"{code}\n\n{name}(**{literal(arguments)})\n"


def parsed(text: str | None) -> Any:
    """What ctx.llm puts in "data" for a reply text: its JSON, or None."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def problems(proposal: dict[str, Any], allowed_imports: Iterable[str]) -> list[str]:
    """What is wrong with a proposal before any of it runs: fields, syntax, the function it must define, imports."""
    out = []
    name, kind, code = proposal.get("name"), proposal.get("kind"), proposal.get("code")
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        out.append(f"name {name!r} must be a Python identifier not starting with _")
    if kind not in ("script", "tool"):
        out.append(f'kind {kind!r} must be "script" or "tool"')
    tests = proposal.get("tests")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, dict) and "input" in t for t in tests):
        out.append('tests must be a non-empty list of {"input": {...}, "expected": ...}')
    unknown = sorted(set(proposal.get("dependencies") or []) - set(allowed_imports))
    if unknown:
        out.append(f"dependencies {', '.join(unknown)} are not allowed; allowed imports: {', '.join(sorted(allowed_imports))}")
    if not isinstance(code, str) or not code.strip():
        return out + ["code is empty"]
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return out + [f"code does not parse: {exc.msg} (line {exc.lineno})"]
    wanted = "execute" if kind == "script" else name
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    if wanted not in defined:
        out.append(f"code must define a top-level function {wanted}()" + (" taking ctx" if kind == "script" else ""))
    return out


def same(expected: Any, actual: Any) -> bool:
    """Test comparison: equal JSON values, floats within 1e-9."""
    if isinstance(expected, float) or isinstance(actual, float):
        return isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and not isinstance(expected, bool) \
            and abs(expected - actual) <= 1e-9 * max(1.0, abs(expected))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(same(expected[k], actual[k]) for k in expected)
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        return len(expected) == len(actual) and all(same(e, a) for e, a in zip(expected, actual))
    return expected == actual
