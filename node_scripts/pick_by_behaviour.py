"""pick_by_behaviour: choose among candidate functions by how they behave, without a model call.

The evaluator of solve's samples (policy best_of_n). The candidates failing the fewest of the goal's
examples stay in the running; each is run in the sandbox on probe calls made from those examples
(swarm/probes.py), and the one agreeing most with the others wins — ties go to the model's most
likely sample (sample 0, written at the configured temperature).
"""

from __future__ import annotations

from swarm import NodeScript, goal_examples, hookimpl, probes


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
    examples = probes.probe_examples(calls)
    results: list[list[str] | None] = []
    for i in running:
        ran = ctx.run_python(goal_examples.check_code(candidates[i]["code"], examples))
        seen = ran.output if ran.ok else None
        results.append([str(x) for x in seen] if isinstance(seen, list) and len(seen) == len(calls) else None)
    chosen, scores = probes.agreement_pick(results, prefer=running.index(prefer) if prefer in running else 0)
    ctx.log(f"{len(running)} candidates on {len(calls)} probe calls, agreement {scores}: candidate {running[chosen]}")
    return {"best": running[chosen], "scores": dict(zip(map(str, running), scores)), "probes": len(calls)}


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
