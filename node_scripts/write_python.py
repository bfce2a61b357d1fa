"""write_python: the model writes Python for a goal; a run_python child runs it."""

import re

from swarm import NodeScript, hookimpl
from swarm.errors import SwarmError

PROMPT = """Write Python code that achieves this goal and computes its answer.
Goal: {goal}

Rules: plain Python, only these imports: {imports}. Print what is useful to see;
the value of the last expression is the result. Reply with one ```python block.

The parts of the swarm API that may help (the tools are plain functions in your code):
{api}"""

FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def extract_code(text: str) -> str:
    """The longest python (or unlabelled) fenced block; the whole reply when it has no fences."""
    blocks = [(lang.lower(), body) for lang, body in FENCE.findall(text)]
    python = [body for lang, body in blocks if lang in ("python", "py", "python3", "")]
    code = max(python, key=len) if python else (text if not blocks else "")
    if not code.strip():
        raise SwarmError("the model's reply held no Python code")
    return code.strip() + "\n"


def execute(ctx):
    if ctx.reports is None:
        imports = ", ".join(ctx.data.get("imports") or ["math", "statistics", "datetime", "json", "re"])
        code = extract_code(ctx.llm(PROMPT.format(goal=ctx.goal, imports=imports, api=ctx.api_docs(ctx.goal))).text)
        return ctx.spawn([ctx.child("run_python", code=code, goal=ctx.goal)])
    run = ctx.reports[0]
    if not run.ok:
        raise SwarmError(f"the code written for {ctx.goal!r} failed: {run.error}")
    return {"goal": ctx.goal, **run.output}


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="write_python",
        description="Write and run Python code: calculations, data processing, anything best answered by computing.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}, "imports": {"type": "array", "items": {"type": "string"}}}, "required": ["goal"]},
        execute=execute,
        examples=[{"goal": "Compute the compound interest on 1000 EUR at 3% over 10 years"}],
    )]
