"""Shared by the metrics, tracing and export tests: one scripted run that touches what they measure.

The root `plan` fans out to two model calls (`ask`), a node that uses the workspace tools
(one call fails), a node that always raises (retried once, then failed) and a node that runs
code in the sandbox; on its way up it collects the answers.
"""

from __future__ import annotations

import json

from lifecycle_support import script

PRICES = {"gpt-4o-mini": {"input": 1.0, "output": 2.0}}  # USD per million tokens

MODEL = [
    {"match": "colour", "reply": "blue", "usage": {"prompt_tokens": 10, "completion_tokens": 2}, "repeat": True},
    {"match": "city", "reply": "Lisbon", "usage": {"prompt_tokens": 12, "completion_tokens": 3}, "repeat": True},
]


def plan(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask", question="Name a colour"), ctx.child("ask", question="Name a city"),
                          ctx.child("tooling", goal="keep notes"), ctx.child("boom"), ctx.child("code")])
    return {"answers": [r.output for r in ctx.reports if r.ok]}


def ask(ctx):
    return ctx.llm(ctx.data["question"]).text


def tooling(ctx):
    tools = ctx.tools
    tools["write_file"](path="notes.txt", text="remember the milk")
    try:
        tools["read_file"](path="missing.txt")
    except Exception as exc:  # the tool's failure is the script's to handle
        ctx.log(f"no such file: {exc}")
    return tools["read_file"](path="notes.txt")


def boom(ctx):
    raise ValueError("no luck today")


def code(ctx):
    return ctx.run_python("sum(range(5))").output


SCRIPTS = [script("plan", plan), script("ask", ask), script("tooling", tooling), script("boom", boom),
           script("code", code)]


def scenario_engine(make_engine, **settings):
    """An engine with the scenario's scripts, model and prices; retries once (node_max_attempts=2)."""
    return make_engine(*SCRIPTS, model=MODEL, node_max_attempts=2,
                       settings={"SWARM_MODEL_PRICES": json.dumps(PRICES), "SWARM_SANDBOX_POOL_SIZE": "1", **settings})
