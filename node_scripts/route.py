"""route: choose which registered node script should handle a sub-goal.

Retrieval over the live catalogue finds the top-k candidates ([retrieval].top_k); the one model
call chooses among those k, or answers "none", which hands the sub-goal to make_tool. The prompt
never lists the whole catalogue.
"""

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
{earlier}
Scripts:
{catalogue}

Reply with JSON: {{"script": "<name>", "data": {{extra input the script needs, if any}}, "reason": "..."}}
If none of these scripts fits, reply {{"script": "none", "reason": "..."}}."""

NONE = "none"
FALLBACK = "make_tool"  # what a sub-goal no script fits is handed to

NOT_ROUTABLE = {"route", "fix_tool"}  # fix_tool only makes sense as make_tool's child


def execute(ctx):
    if ctx.reports is None:
        options = ctx.candidates(ctx.goal, exclude=NOT_ROUTABLE)
        catalogue = "\n".join(f"- {s['name']}({', '.join(s['input_schema'].get('properties', {}))}): {s['description']}" for s in options)
        earlier = earlier_results(ctx)
        prompt = PROMPT.format(goal=ctx.goal, catalogue=catalogue, earlier=f"Earlier results:\n{earlier}\n" if earlier else "")
        choice = ctx.llm(prompt, schema=CHOICE_SCHEMA).data
        name = choice["script"]
        if name.strip().lower() == NONE:
            return hand_to_fallback(ctx, choice)
        if name not in {s["name"] for s in options}:
            raise SwarmError(f"the model chose {name!r}, which is not a routable script; options: {', '.join(s['name'] for s in options)}")
        data = {"goal": ctx.goal, **(choice.get("data") or {})}
        if earlier and "context" in _properties(ctx, name) and "context" not in data:
            data["context"] = earlier  # a step of a sequence works from the steps before it
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


def hand_to_fallback(ctx, choice: dict):
    """No candidate fits: make_tool writes a script for the sub-goal, when it is registered."""
    if FALLBACK not in {s["name"] for s in ctx.scripts}:
        raise SwarmError(f"no registered script fits {ctx.goal!r} ({choice.get('reason', 'the model answered none')}) "
                         f"and {FALLBACK} is not registered to write one; register a script for it, or enable {FALLBACK}")
    ctx.log(f"no script fits; handed to {FALLBACK}: {choice.get('reason', '')}")
    return ctx.spawn([ctx.child(FALLBACK, goal=ctx.goal)])


def earlier_results(ctx) -> str:
    """The results of the earlier steps when this sub-goal is a step of a sequence."""
    lines = []
    for report in ctx.previous:
        shown = report.output if report.ok else f"failed: {report.error}"
        lines.append(f"- {json.dumps(shown, ensure_ascii=False)[:1500]}")
    return "\n".join(lines)


def _properties(ctx, script: str) -> dict:
    for s in ctx.scripts:
        if s["name"] == script:
            return s.get("input_schema", {}).get("properties", {})
    return {}
