"""pick_by_behaviour: choose among candidate functions by how they behave, without a model call.

The evaluator of solve's samples (policy best_of_n). The candidates failing the fewest of the goal's
examples stay in the running; each is run in the sandbox on probe calls made from those examples
(swarm/probes.py), a few calls at a time so that one which never ends costs only its group; the one
agreeing most with the others wins — ties go to the model's most likely sample (sample 0, written at the
configured temperature).
"""

from __future__ import annotations

from swarm import NodeScript, goal_examples, hookimpl, probes

GROUP = 6  # probe calls run together in one sandbox execution
UNFINISHED = "(did not finish)"


def execute(ctx):
    candidates = [c.get("output") if isinstance(c.get("output"), dict) else {} for c in ctx.data.get("candidates", [])]
    if not candidates:
        return {"best": 0, "why": "no candidates"}
    fewest = min(int(c.get("wrong", 0)) for c in candidates)
    running = [i for i, c in enumerate(candidates) if int(c.get("wrong", 0)) == fewest and c.get("code")]
    prefer = next((i for i, c in enumerate(candidates) if c.get("sample") == 0), running[0] if running else 0)
    calls = probes.probe_calls(ctx.goal)
    if len(running) < 2 or not calls:
        best = prefer if prefer in running else (running[0] if running else 0)
        return {"best": best, "why": "one candidate in the running" if len(running) < 2 else "no probe calls"}
    results = [behaviour(ctx, candidates[i]["code"], calls) for i in running]
    chosen, scores = probes.agreement_pick(results, prefer=running.index(prefer) if prefer in running else 0)
    ctx.log(f"{len(running)} candidates on {len(calls)} probe calls, agreement {scores}: candidate {running[chosen]}")
    return {"best": running[chosen], "scores": dict(zip(map(str, running), scores)), "probes": len(calls)}


def behaviour(ctx, code: str, calls: list[str]) -> list[str] | None:
    """What `code` gives for each probe call, run a few calls at a time: a call that never ends (a loop
    on an input outside the function's domain) costs its own group, marked UNFINISHED, not every result.
    None when no group ran at all."""
    seen: list[str] = []
    for start in range(0, len(calls), GROUP):
        group = calls[start:start + GROUP]
        ran = ctx.run_python(goal_examples.check_code(code, probes.probe_examples(group)))
        got = ran.output if ran.ok else None
        seen += [str(x) for x in got] if isinstance(got, list) and len(got) == len(group) else [UNFINISHED] * len(group)
    return None if all(x == UNFINISHED for x in seen) else seen


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="pick_by_behaviour",
        description="Choose among candidate functions written for one goal by running them on inputs made from the "
                    "goal's examples and keeping the one the others agree with most (no model call).",
        input_schema={"type": "object", "properties": {
            "goal": {"type": "string"},
            "candidates": {"type": "array", "items": {"type": "object"}},
        }, "required": ["goal", "candidates"]},
        execute=execute,
        examples=[],
    )]
