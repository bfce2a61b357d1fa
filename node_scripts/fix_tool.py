"""fix_tool: one model call corrects a generated script or tool whose tests failed; the corrected version is tested.

Spawned by make_tool only. Its result is {"proposal", "failures"}: make_tool registers the
proposal when `failures` is empty, or spawns the next fix while attempts remain.
"""

import json

from node_scripts.make_tool import CONTRACT, PROPOSAL_SCHEMA, prompt
from swarm import NodeScript, hookimpl

PROMPT = """Fix this swarm {kind}: its tests failed.
Capability: {goal}

{contract}

Node scripts that exist already: {scripts}
Tools: {tools}

The current version (JSON):
{proposal}

What failed:
{failures}

Correct the code (or a test that is itself wrong). Reply with the whole corrected version as JSON, same
fields: {{"name", "kind", "description", "arguments", "returns", "dependencies", "code", "tests"}}"""


def execute(ctx):
    current = ctx.data["proposal"]
    failures = "\n".join(f"- {f}" for f in ctx.data.get("failures") or [])
    text = prompt(ctx, CONTRACT, PROMPT, kind=current.get("kind"), proposal=json.dumps(current, indent=2, ensure_ascii=False), failures=failures)
    reply = ctx.llm(text, schema=PROPOSAL_SCHEMA).data
    fixed = {**current, **reply, "name": current.get("name", reply.get("name")), "kind": current.get("kind", reply.get("kind"))}
    return {"proposal": fixed, "failures": ctx.toolsmith.check(fixed, ctx.tools)}


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="fix_tool",
        description="Correct a generated script or tool whose tests failed (spawned by make_tool).",
        input_schema={"type": "object", "properties": {
            "goal": {"type": "string"}, "proposal": {"type": "object"},
            "failures": {"type": "array", "items": {"type": "string"}}}, "required": ["proposal", "failures"]},
        execute=execute,
    )]
