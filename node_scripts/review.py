"""review: check results against the goal on the way up, or pick the best of several candidates."""

import json

from swarm import NodeScript, hookimpl

REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean"},
        "summary": {"type": "string"},
        "issues": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["approved", "summary"],
}
PICK_SCHEMA = {
    "type": "object",
    "properties": {"best": {"type": "integer"}, "reason": {"type": "string"}},
    "required": ["best"],
}

REVIEW_PROMPT = """Review these results against the goal. Say whether together they achieve it,
list any issues, and write the final answer for the person who set the goal.
Goal: {goal}

Results:
{results}

Reply with JSON: {{"approved": true|false, "summary": "<final answer>", "issues": ["..."]}}"""

PICK_PROMPT = """Pick the best candidate for the goal.
Goal: {goal}

Candidates:
{candidates}

Reply with JSON: {{"best": <index of the best candidate, from 0>, "reason": "..."}}"""


def execute(ctx):
    if "candidates" in ctx.data:
        listing = "\n".join(f"[{i}] {json.dumps(c.get('output'), ensure_ascii=False)[:2000]}" for i, c in enumerate(ctx.data["candidates"]))
        return ctx.llm(PICK_PROMPT.format(goal=ctx.goal, candidates=listing), schema=PICK_SCHEMA).data
    listing = "\n".join(
        f"- {r.get('goal') or r.get('node')}: {r.get('status')} {shown(r)[:2000]}" for r in ctx.data.get("results", []))
    return ctx.llm(REVIEW_PROMPT.format(goal=ctx.goal, results=listing), schema=REVIEW_SCHEMA).data


def shown(result: dict) -> str:
    """What a reviewer needs of one result: its answer (or text) when it has one, not the code behind it."""
    if result.get("status") != "done":
        return json.dumps(result.get("error"), ensure_ascii=False)
    output = result.get("output")
    if isinstance(output, dict):
        for key in ("answer", "text", "result"):
            if output.get(key) not in (None, ""):
                value = output[key]
                return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return json.dumps(output, ensure_ascii=False)


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="review",
        description="Check results against a goal and write the final answer, or pick the best of several candidate results.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}, "results": {"type": "array"}, "candidates": {"type": "array"}}, "required": ["goal"]},
        execute=execute,
    )]
