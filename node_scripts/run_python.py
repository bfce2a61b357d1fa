"""run_python: execute given Python code and report its result (no model call)."""

from swarm import NodeScript, hookimpl
from swarm.errors import FinalFailure


def execute(ctx):
    result = ctx.run_python(ctx.data["code"], ctx.data.get("imports"))
    if not result.ok:
        # Final: running the same code again gives the same error; a repair needs the model (solve does that).
        raise FinalFailure(f"the code raised {result.error}" + (f"; it printed: {result.logs[-500:]}" if result.logs else ""))
    return {"code": ctx.data["code"], "result": result.output, "logs": result.logs}


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="run_python",
        description="Run a given piece of Python code and return its result and printed output.",
        input_schema={"type": "object", "properties": {"code": {"type": "string"}, "imports": {"type": "array", "items": {"type": "string"}}}, "required": ["code"]},
        execute=execute,
        examples=[{"code": "sum(range(10))"}],
    )]
