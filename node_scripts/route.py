"""route: choose which registered node script should handle a sub-goal.

Retrieval over the live catalogue finds the top-k candidates ([retrieval].top_k); the one model
call chooses among those k, or answers "none", which hands the sub-goal to make_tool. The prompt
never lists the whole catalogue.

The reply is constrained by the candidates' own input schemas: its JSON schema is one branch per
candidate (`{"script": <that name>, "data": <that script's input, minus what route fills in>}`), so
where the endpoint enforces json_schema the model cannot produce input its child would reject.
Where it does not, the model client checks the reply against the same schema and sends what was
wrong back to the model once (swarm/model/client.py); a reply still invalid then fails the node
without a retry of the same prompt.

Every decision is logged in the store (`route_decisions`: the goal, the candidates with their scores,
the pick); `swarm route decisions` shows it, and `swarm route confirm/reject RUN NODE` is a person's
verdict on one (swarm/routing_history.py).

Depth-aware: below the root, `break_down_goal` is not offered (a sub-goal is never re-planned into
itself, which with a small model recursed until the budget was gone).
"""

import json

from swarm import NodeScript, hookimpl
from swarm.errors import FinalFailure
from swarm.model.structured import validate

PROMPT = """Choose the node script that should handle this sub-goal.
Sub-goal: {goal}
{earlier}
Scripts:
{catalogue}

Reply with JSON: {{"script": "<name>", "data": {{input the script needs besides the goal, if any}}}}
If none of these scripts fits, reply {{"script": "none"}}."""

NONE = "none"
FALLBACK = "make_tool"  # what a sub-goal no script fits is handed to
NOT_ROUTABLE = {"route", "fix_tool", "pick_by_behaviour"}  # fix_tool only makes sense as make_tool's child, pick_by_behaviour as solve's evaluator
PLANNER = "break_down_goal"  # only offered at the root: a sub-goal is never re-planned into itself
FILLED = ("goal",)  # input route fills in itself: never asked of the model
DECIDED_ELSEWHERE = ("imports",)  # settings, not the model, decide these


def execute(ctx):
    if ctx.reports is not None:
        report = ctx.reports[0]
        if not report.ok:
            raise FinalFailure(f"{report.script} failed for {ctx.goal!r}: {report.error}")
        output = report.output
        return {"goal": ctx.goal, "script": report.script, **(output if isinstance(output, dict) else {"result": output})}
    options = ctx.candidates(ctx.goal, exclude=excluded(ctx))
    if not options:
        return hand_to_fallback(ctx, options, "no registered script was found for it")
    earlier = earlier_results(ctx)
    prompt = PROMPT.format(goal=ctx.goal, catalogue=catalogue(options), earlier=f"Earlier results:\n{earlier}\n" if earlier else "")
    choice = ctx.llm(prompt, schema=choice_schema(options)).data
    name = choice["script"]
    if name == NONE:
        return hand_to_fallback(ctx, options, choice.get("reason") or "the model answered none")
    data = {"goal": ctx.goal, **{k: v for k, v in (choice.get("data") or {}).items()
                                 if k not in FILLED and k not in DECIDED_ELSEWHERE}}
    schema = next(s["input_schema"] for s in options if s["name"] == name)
    if earlier and "context" in schema.get("properties", {}):
        data["context"] = earlier  # a step of a sequence works from the steps before it
    errors = validate(data, schema)
    if errors:  # the choice schema is the child's own, so only a script's odd schema gets here
        raise FinalFailure(f"the input route made for {name} does not match its schema: {'; '.join(errors)}")
    ctx.record_route(options, name)  # the decision log; the run's outcome (or a person) later confirms or rejects it
    ctx.log(f"routed to {name}")
    return ctx.spawn([ctx.child(name, **data)])


def excluded(ctx) -> set[str]:
    return NOT_ROUTABLE | ({PLANNER} if ctx.depth > 0 else set())


def catalogue(options: list[dict]) -> str:
    """One line per candidate: name, description, and the input it needs besides the goal, with types."""
    lines = []
    for s in options:
        extra = asked_of_model(s["input_schema"])
        needs = ", ".join(f"{k}: {v.get('type', 'any')}" for k, v in extra.get("properties", {}).items())
        lines.append(f"- {s['name']}: {s['description']}" + (f" Input: {needs}." if needs else ""))
    return "\n".join(lines)


def choice_schema(options: list[dict]) -> dict:
    """One branch per candidate (its name as a constant, its own input as `data`), plus "none"."""
    branches = [branch(s["name"], asked_of_model(s["input_schema"])) for s in options]
    branches.append({"type": "object", "properties": {"script": {"const": NONE}}, "required": ["script"]})
    return {"anyOf": branches}


def branch(name: str, data: dict) -> dict:
    return {"type": "object", "properties": {"script": {"const": name}, "data": data},
            "required": ["script", "data"] if data.get("required") else ["script"]}


def asked_of_model(schema: dict) -> dict:
    """A script's input schema without the keys route fills in or settings decide."""
    props = {k: v for k, v in (schema.get("properties") or {}).items() if k not in FILLED and k not in DECIDED_ELSEWHERE}
    required = [k for k in schema.get("required", []) if k in props]
    return {"type": "object", "properties": props, **({"required": required} if required else {})}


def hand_to_fallback(ctx, options: list[dict], why: str):
    """No candidate fits: make_tool writes a script for the sub-goal, when it is registered."""
    registered = FALLBACK in {s["name"] for s in ctx.scripts}
    ctx.record_route(options, FALLBACK if registered else None)
    if not registered:
        raise FinalFailure(f"no registered script fits {ctx.goal!r} ({why}) and {FALLBACK} is not registered to "
                           f"write one; register a script for it, or enable {FALLBACK}")
    ctx.log(f"no script fits; handed to {FALLBACK}: {why}")
    return ctx.spawn([ctx.child(FALLBACK, goal=ctx.goal)])


def earlier_results(ctx) -> str:
    """The results of the earlier steps when this sub-goal is a step of a sequence."""
    lines = []
    for report in ctx.previous:
        shown = report.output if report.ok else f"failed: {report.error}"
        lines.append(f"- {json.dumps(shown, ensure_ascii=False)[:1500]}")
    return "\n".join(lines)


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="route",
        description="Choose the best registered node script for a sub-goal and hand the sub-goal to it.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}}, "required": ["goal"]},
        execute=execute,
    )]

