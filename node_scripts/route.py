"""route: choose which registered node script should handle a sub-goal."""

import json

from swarm import NodeScript, hookimpl
from swarm.errors import SwarmError

CHOICE_SCHEMA = {
    "type": "object",
    "properties": {"script": {"type": "string"}, "data": {"type": "object"}, "reason": {"type": "string"}},
    "required": ["script"],
}

PROMPT = """Choose the node script that should handle this sub-goal.
Sub-goal: {goal}

Scripts:
{catalogue}

Reply with JSON: {{"script": "<name>", "data": {{extra input the script needs, if any}}, "reason": "..."}}"""

NOT_ROUTABLE = {"route"}


def execute(ctx):
    if ctx.reports is None:
        options = [s for s in ctx.scripts if s["name"] not in NOT_ROUTABLE]
        catalogue = "\n".join(f"- {s['name']}: {s['description']}" for s in options)
        choice = ctx.llm(PROMPT.format(goal=ctx.goal, catalogue=catalogue), schema=CHOICE_SCHEMA).data
        name = choice["script"]
        if name not in {s["name"] for s in options}:
            raise SwarmError(f"the model chose {name!r}, which is not a routable script; options: {', '.join(s['name'] for s in options)}")
        data = {"goal": ctx.goal, **(choice.get("data") or {})}
        ctx.log(f"routed to {name}: {choice.get('reason', '')}")
        return ctx.spawn([ctx.child(name, **data)])
    report = ctx.reports[0]
    if not report.ok:
        raise SwarmError(f"{report.script} failed for {ctx.goal!r}: {report.error}")
    output = report.output
    return {"goal": ctx.goal, "script": report.script, **(output if isinstance(output, dict) else {"result": output})}


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="route",
        description="Choose the best registered node script for a sub-goal and hand the sub-goal to it.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}}, "required": ["goal"]},
        execute=execute,
    )]


def describe_schema(schema: dict) -> str:
    return json.dumps(schema.get("properties", {}))
