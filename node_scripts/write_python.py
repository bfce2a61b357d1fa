"""write_python: the model writes Python for a goal; it runs in the sandbox and is repaired from its error.

The same path as `solve`'s code (node_scripts/solve.py) without the direct-answer option: the prompt
says which imports the sandbox allows (from [python].authorized_imports, never from the model), the
code runs at once, and a failure goes back to the model as a `solve` repair child. What the model
sees is what is true where its code runs: plain Python, no `ctx`, no swarm API.
"""

from swarm import NodeScript, hookimpl
from swarm.errors import FinalFailure, SwarmError

from node_scripts.solve import answer_of, code_in, repair

PROMPT = """Write Python code that achieves this goal and prints its answer.
Goal: {goal}
{context}
Plain Python; allowed imports: {imports}. No files, network or input(). Reply with one ```python block."""


def extract_code(text: str) -> str:
    """The longest python (or unlabelled) fenced block; the whole reply when it has no fences."""
    code = code_in(text) if "```" in text else (text.strip() + "\n" if text.strip() else None)
    if code is None:
        raise SwarmError("the model's reply held no Python code")
    return code


def execute(ctx):
    if ctx.reports is not None:  # a repair child reported
        report = ctx.reports[-1]
        if not report.ok:
            raise FinalFailure(f"the code written for {ctx.goal!r} failed: {report.error}")
        return {"goal": ctx.goal, **report.output}
    context = f"Context: {ctx.data['context']}\n" if ctx.data.get("context") else ""
    imports = ", ".join(ctx.config.python.authorized_imports)
    code = extract_code(ctx.llm(PROMPT.format(goal=ctx.goal, context=context, imports=imports)).text)
    result = ctx.run_python(code)
    if result.ok and (answer := answer_of(code, result)) is not None:
        return {"goal": ctx.goal, "answer": answer, "code": code, "result": result.output, "logs": result.logs}
    return repair(ctx, code, None if result.ok else result.error)


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="write_python",
        description="Write and run Python code: calculations, data processing, anything best answered by computing.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}, "context": {"type": "string"}},
                      "required": ["goal"]},
        execute=execute,
        examples=[{"goal": "Compute the compound interest on 1000 EUR at 3% over 10 years"}],
    )]
