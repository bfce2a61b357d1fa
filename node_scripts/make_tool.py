"""make_tool: the model writes a new node script or tool with its tests; it is tested in the sandbox, then registered.

Round 0 makes the one model call and runs the tests. A failing version goes to a fix_tool
child (one model call each), up to [toolsmith].max_attempts versions in all. A version whose
tests pass is saved under [toolsmith].folder and registered at once, after a person's approval
when [approvals].new_scripts asks for it (a person may edit the code; the edit is tested again).
Failing tests never register anything.
"""

from swarm import NodeScript, hookimpl
from swarm.errors import SwarmError

PROPOSAL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["script", "tool"]},
        "description": {"type": "string"},
        "arguments": {"type": "object"},
        "returns": {"type": "object"},
        "dependencies": {"type": "array", "items": {"type": "string"}},
        "code": {"type": "string"},
        "tests": {"type": "array", "items": {"type": "object"}, "minItems": 1},
    },
    "required": ["name", "kind", "description", "code", "tests"],
}

CONTRACT = """A "script" is a node script: code that defines `def execute(ctx)` and returns a JSON-able result.
It runs in a sandbox, where ctx has only: ctx.data (the input, matching "arguments"), ctx.goal,
ctx.reports (children's reports as dicts with ok/output/error, or None on the first execution),
ctx.answer, ctx.llm(prompt, schema=None) -> {{"text": ..., "data": ...}} (at most one call),
ctx.child(script, **data), ctx.spawn([children], policy="all"), ctx.ask_human(question),
and ctx.tools.NAME(...) for the tools listed below.
A "tool" is a function `def NAME(**arguments)` (NAME = its name) returning a JSON-able value; scripts
and sandboxed code call it as a plain function.
Rules: plain Python; imports only from {imports} (list those used in "dependencies"); no files, no
network, no attributes with double underscores. Never import swarm.
Tests: a list of {{"input": {{...}}, "expected": <the exact return value>}}; a script test whose code
calls ctx.llm adds "llm_reply": "<the model's reply text>"."""

PROMPT = """Write a new swarm {kind} for this capability, with tests.
Capability: {goal}

{contract}

Node scripts that exist already and come closest (do not rewrite them): {scripts}
Tools: {tools}

The parts of the swarm API that matter here:
{api}

Reply with JSON: {{"name": "<identifier>", "kind": "script" | "tool", "description": "<one sentence, for
choosing it>", "arguments": <JSON schema of the input>, "returns": <JSON schema>, "dependencies": [...],
"code": "<the Python code>", "tests": [...]}}"""


def execute(ctx):
    smith = ctx.toolsmith
    if ctx.reports is None:
        proposal = dict(ctx.llm(prompt(ctx, CONTRACT, PROMPT), schema=PROPOSAL_SCHEMA).data)
        if ctx.data.get("kind") in ("script", "tool"):
            proposal["kind"] = ctx.data["kind"]
        failures = smith.check(proposal, ctx.tools)
    else:
        fixed = ctx.reports[-1]
        if not fixed.ok or not isinstance(fixed.output, dict) or "proposal" not in fixed.output:
            raise SwarmError(f"fix_tool failed for {ctx.goal!r}: {fixed.error}")
        proposal, failures = fixed.output["proposal"], fixed.output["failures"]
    written = ctx.round + 1  # each round after the first is a fix_tool child's version
    if failures:
        ctx.log(f"version {written} of {proposal.get('name')!r} failed: " + "; ".join(failures))
        if written >= smith.settings.max_attempts:
            raise SwarmError(
                f"no version of {proposal.get('name')!r} passed its tests after {written} attempt(s), so nothing was "
                f"registered; last failures: {'; '.join(failures)[:1000]} (raise [toolsmith].max_attempts to try longer)"
            )
        return ctx.spawn([ctx.child("fix_tool", goal=ctx.goal, proposal=proposal, failures=failures)])
    question = (f"Register the new {proposal['kind']} {proposal['name']!r}, which passed its "
                f"{len(proposal['tests'])} test(s)?")
    chosen = ctx.approved("new_script", question, proposal)
    if chosen != proposal:  # a person edited it: it passes its tests again before it is registered
        failures = smith.check(chosen, ctx.tools)
        if failures:
            raise SwarmError(f"the edited version of {chosen.get('name')!r} fails its tests, so nothing was registered: "
                             f"{'; '.join(failures)[:1000]}")
        ctx.log(f"registering the version of {chosen['name']!r} a person edited")
    saved = smith.save(chosen, ctx.run_id, ctx.node_id)
    smith.register(saved)
    return {"name": saved.name, "version": saved.version, "kind": saved.kind, "registered": True}


def prompt(ctx, contract: str, template: str, kind: str | None = None, **extra) -> str:
    imports = ", ".join(ctx.toolsmith.allowed_imports)
    scripts = ", ".join(s["name"] for s in ctx.candidates(ctx.goal, top_k=10)) or "none"
    tools = "; ".join(f"{n}: {(f.__doc__ or '').strip()[:200]}" for n, f in sorted(ctx.tools.items())) or "none"
    kind = kind or (ctx.data.get("kind") if ctx.data.get("kind") in ("script", "tool") else "script or tool")
    return template.format(kind=kind, goal=ctx.goal, contract=contract.format(imports=imports), scripts=scripts,
                           tools=tools, api=ctx.api_docs(ctx.goal), **extra)


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="make_tool",
        description="Write, test and register a NEW node script or tool when no registered script can do the "
                    "sub-goal; afterwards the new script can be used by name.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"},
                                                       "kind": {"type": "string", "enum": ["script", "tool"]}},
                      "required": ["goal"]},
        execute=execute,
        examples=[{"goal": "Turn a title into a URL slug", "kind": "script"}],
    )]
