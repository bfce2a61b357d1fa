"""break_down_goal: split a goal into sub-goals, route each, then have the results reviewed."""

from swarm import NodeScript, hookimpl
from swarm.errors import FinalFailure, SwarmError

PLAN_SCHEMA = {
    "type": "object",
    "properties": {
        "subgoals": {"type": "array", "items": {"type": "string"}},
        "policy": {"type": "string", "enum": ["all", "sequence"]},
    },
    "required": ["subgoals"],
}

PROMPT = """Break this goal down into the few sub-goals that together achieve it.
Goal: {goal}

Prefer few, substantial sub-goals over many small ones. Use policy "sequence" when
each sub-goal needs the results of the previous ones, otherwise "all" (parallel).
Reply with JSON: {{"subgoals": ["..."], "policy": "all" | "sequence"}}"""


def execute(ctx):
    if ctx.reports is None:
        plan = ctx.llm(PROMPT.format(goal=ctx.goal), schema=PLAN_SCHEMA).data
        subgoals = [s for s in plan["subgoals"] if str(s).strip()]
        if not subgoals:
            raise SwarmError(f"the model gave no sub-goals for {ctx.goal!r}")
        return ctx.spawn([ctx.child("route", goal=s) for s in subgoals], policy=plan.get("policy") or "all")
    if ctx.reports and ctx.reports[-1].script == "review":
        review = ctx.reports[-1]
        if not review.ok:
            raise FinalFailure(f"the review of the results failed: {review.error}")
        verdict = review.output or {}
        return {
            "answer": verdict.get("summary", ""),
            "approved": bool(verdict.get("approved")),
            "issues": verdict.get("issues", []),
        }
    results = [{"goal": r.output.get("goal") if isinstance(r.output, dict) else None, "node": r.node_id,
                "status": r.status, "output": r.output, "error": r.error} for r in ctx.reports]
    return ctx.spawn([ctx.child("review", goal=ctx.goal, results=results)], policy="sequence")


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="break_down_goal",
        description="Split a broad goal into sub-goals, run each through routing, and review the combined results.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}}, "required": ["goal"]},
        execute=execute,
        examples=[{"goal": "Plan a three-day trip to Lisbon"}],
    )]
