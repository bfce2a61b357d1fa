"""act: do one concrete thing with the swarm's tools — a direct tool call or a short sandboxed program."""

from swarm import NodeScript, hookimpl
from swarm.errors import SwarmError
from swarm.hybrid import describe_tools

PROMPT = """Do this with the tools below.
Goal: {goal}

Tools:
{tools}

Answer in ONE of two forms, choosing the least power that does the job:
- one atomic action that a single tool covers: only JSON {{"tool": "<name>", "args": {{...}}}}
- anything with logic (loops, conditions, several tool calls): one ```python block; the tools are
  plain functions there, and the value of the last expression is the result."""


def execute(ctx):
    reply = ctx.llm(PROMPT.format(goal=ctx.goal, tools=describe_tools(ctx.tools)))
    outcome = ctx.act(reply.text)
    if outcome["mode"] == "python" and not outcome["ok"]:
        raise SwarmError(f"the program written for {ctx.goal!r} failed: {outcome['error']}")
    return outcome


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="act",
        description="Do one concrete action with the tools (files in the run's workspace, plugin tools): a direct "
                    "tool call, or a short sandboxed program for anything with loops or several steps.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}}, "required": ["goal"]},
        execute=execute,
        examples=[{"goal": "Write the word count of notes.txt into count.txt"}],
    )]
