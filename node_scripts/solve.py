"""solve: act on a goal directly — answer it, or write Python, run it in the sandbox, and repair it from its error.

The cheap path first: a goal a small model can answer or compute in one reply costs one model call
(plus one per repair), not a plan, a routing and a review. The answer of a computation is what the
code printed (or, when it printed nothing, the value of its last expression); a definition that runs
(a function a goal asks for) is its own answer. Code that fails goes back to the model with the
error as a repair child — a new prompt each time, never the same one again — up to `repairs`
times ([run].max_repairs by default); after that the node fails with the last error. Code that
defines a function is also checked against the goal's own examples — doctests, and prose lines such as
`f(3) == 9` (swarm/goal_examples.py) — and a mismatch goes back for a repair the same way. A module the
code uses but never imports (`math.sqrt` without `import math`) is imported for it before it runs.

A goal that asks for a function and shows examples gets [run].samples candidates at once (children
written in parallel, the first at the configured temperature, the rest sampled more widely). The one
failing the fewest examples wins, and among equals the one behaving most like the others on inputs made
from the examples (pick_by_behaviour): a small model's wrong answers tend to differ, its right ones agree.
The winner is the answer, or the start of the repair chain when it still fails an example.
"""

from __future__ import annotations

import ast
import json
import re

from swarm import NodeScript, goal_examples, hookimpl, probes
from swarm.errors import FinalFailure

SYSTEM = """Solve the task. Reply in one of two ways:
1. Code: one ```python block that computes the answer and prints it. Use code for anything with numbers, \
counting, dates or text manipulation, and when the task asks for a function. Allowed imports: {imports}. \
No files, network or input().
2. Answer: <the answer> — only for facts you know for sure or for prose, with nothing to compute."""

# A goal that declares a function (`def name(` at the start of a line: a stub to complete) asks for
# code, not for an answer to print: its own short prompt, and its repairs ask for the function again.
SYSTEM_FUNCTION = """Write the code the task asks for: one ```python block with the whole function, signature \
included. Allowed imports: {imports}. No files, network or input()."""

REPAIR = """Your code failed:
{error}
{trace}Reply with one corrected ```python block that {deliver}."""
MISMATCH = "Your code does not do what the task's own examples show:"
FRESH_TEMPERATURE = 0.8
TRACE = "First work through the first failing example by hand in a few short lines, step by step.\n"
FRESH = """An earlier attempt got the task's own examples wrong:
{wrong}
Work through one of those examples by hand in a few short lines, step by step. Then write the whole function \
anew in one ```python block."""
PRINTS = "prints the answer"
DEFINES = "holds the whole corrected function"

SILENT = """Your code ran but printed nothing. Reply with one ```python block that prints the answer."""

NO_ANSWER = "the reply held neither a ```python block nor an answer"
NO_ANSWER_AGAIN = """That was neither code nor an answer. Reply with one ```python block that prints the answer."""

FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
ANSWER = re.compile(r"^\s*(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)
LONGEST_ANSWER = 4000


def execute(ctx):
    if ctx.reports is not None and sampled(ctx.reports):
        return after_the_samples(ctx)
    if ctx.reports is not None:  # a repair child reported: its outcome is this node's
        report = ctx.reports[-1]
        if not report.ok:  # the repair's own error, without the type name each level would add again
            raise FinalFailure((report.error or "the repaired code failed").removeprefix("FinalFailure: "))
        return report.output
    if "sample" in ctx.data:
        return write_a_sample(ctx)
    if wants_samples(ctx):
        return ctx.spawn([ctx.child("solve", goal=ctx.goal, sample=i) for i in range(ctx.config.run.samples)],
                         policy="best_of_n", evaluator="pick_by_behaviour")
    return first_attempt(ctx)


def first_attempt(ctx):
    """The model's reply, acted on: an answer is returned; code is run, checked and repaired when it fails."""
    # A fresh start after failed attempts wants another idea, not the same one again: sample more widely.
    reply = ctx.llm(conversation(ctx), **({"temperature": FRESH_TEMPERATURE} if ctx.data.get("fresh") else {})).text
    code = code_in(reply)
    if code is None:
        answer = ANSWER.sub("", reply.strip(), count=1).strip()
        if answer and not echoes_the_prompt(answer):
            return {"answer": answer[:LONGEST_ANSWER]}
        return repair(ctx, reply.strip(), NO_ANSWER)
    code, result = run_code(ctx, code)
    if result.ok:
        answer = answer_of(code, result)
        if answer is None:
            return repair(ctx, code, None)
        if missing := goal_examples.missing_functions(ctx.goal, code):
            return repair(ctx, code, must_define(missing))
        found = {"answer": answer, "code": code, "logs": result.logs}
        if wrong := against_the_goals_examples(ctx, code):
            return repair(ctx, code, mismatch(wrong), partial={**found, "wrong": len(wrong)})
        return found
    return repair(ctx, code, failure(result))


def run_code(ctx, code: str):
    """The code as it runs — with the imports it uses but lacks added — and its sandbox result."""
    if unimported := goal_examples.unimported_modules(code, ctx.config.python.authorized_imports):
        ctx.log(f"added the import(s) the code uses but lacks: {', '.join(unimported)}")
        code = "".join(f"import {name}\n" for name in unimported) + code
    return code, ctx.run_python(code)


def failure(result) -> str:
    """How code failed, as the model reads it: the error, and the end of what it printed."""
    return result.error + (f"\nIt printed: {result.logs[-400:]}" if result.logs else "")


def must_define(missing: list[str]) -> str:
    return (f"Your code must define {', '.join(missing)} as the task asks "
            "(the whole function, signature included), not only use it.")


def mismatch(wrong: list[str]) -> str:
    return MISMATCH + "\n" + "\n".join(wrong)


def wants_samples(ctx) -> bool:
    """Write several candidates at once? For the first attempt at a goal that asks for a function and shows
    examples with literal arguments (so candidates can be told apart by behaviour), when [run].samples > 1."""
    return (ctx.config.run.samples > 1 and not ({"code", "fresh", "best"} & ctx.data.keys())
            and bool(goal_examples.STUB.search(ctx.goal)) and bool(probes.probe_calls(ctx.goal)))


def write_a_sample(ctx):
    """One candidate of several: written (sample 0 at the configured temperature, the others more widely),
    run and checked against the goal's examples, never repaired here. Its output says how it fared —
    `wrong` examples, or the error it ran into — for pick_by_behaviour and then the parent."""
    index = int(ctx.data["sample"])
    reply = ctx.llm(conversation(ctx), **({"temperature": FRESH_TEMPERATURE} if index else {})).text
    code = code_in(reply)
    examples = len(goal_examples.all_examples(ctx.goal))
    if code is None:
        return {"sample": index, "code": reply.strip(), "error": NO_ANSWER, "wrong": examples + 2}
    code, result = run_code(ctx, code)
    if not result.ok:
        return {"sample": index, "code": code, "error": failure(result), "wrong": examples + 1}
    if missing := goal_examples.missing_functions(ctx.goal, code):
        return {"sample": index, "code": code, "error": must_define(missing), "wrong": examples + 1}
    found = {"sample": index, "answer": answer_of(code, result) or code, "code": code, "logs": result.logs}
    wrong = against_the_goals_examples(ctx, code)
    return found | {"wrong": len(wrong), "error": mismatch(wrong) if wrong else None}


def sampled(reports) -> bool:
    """Are these the reports of a group of samples (not of one repair child)?"""
    return len(reports) > 1 or any(isinstance(r.output, dict) and "sample" in r.output for r in reports)


def after_the_samples(ctx):
    """The chosen sample (pick_by_behaviour's pick, or the only one that ended well) is the answer when it
    meets the goal's examples; else it starts the repair chain as a first attempt would. When no sample
    ended well, the node writes one itself."""
    candidates = [r.output for r in ctx.reports if r.ok and isinstance(r.output, dict) and r.output.get("code")]
    if not candidates:
        ctx.log("no sample ended well: writing one here")
        return first_attempt(ctx)
    chosen = min(candidates, key=lambda c: int(c.get("wrong", 0)))
    if not chosen.get("error"):
        return {key: chosen[key] for key in ("answer", "code", "logs") if key in chosen}
    partial = ({key: chosen[key] for key in ("answer", "code", "logs", "wrong") if key in chosen}
               if "answer" in chosen else None)
    return repair(ctx, chosen["code"], chosen["error"], partial=partial)


def against_the_goals_examples(ctx, code: str) -> list[str]:
    """Code that defines something, checked against the goal's own `>>>` examples in the sandbox: the
    examples it gets wrong (none when the goal shows none, or the check itself could not run)."""
    examples = goal_examples.all_examples(ctx.goal)
    if not examples or not defines_something(code):
        return []
    checked = ctx.run_python(goal_examples.check_code(code, examples))
    if not checked.ok:
        return []  # the code ran on its own; a check that cannot run is no evidence against it
    wrong = goal_examples.mismatches(examples, checked.output)
    if wrong:
        ctx.log(f"{len(wrong)} of the goal's {len(examples)} examples fail")
    return wrong


def defines_something(code: str) -> bool:
    try:
        return any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.parse(code).body)
    except SyntaxError:
        return False


def conversation(ctx) -> list[dict[str, str]]:
    """The messages: the short system prompt, the goal, and for a repair the failed code and what went wrong
    (for a fresh start, only what the earlier attempts got wrong, not their code)."""
    imports = ", ".join(ctx.config.python.authorized_imports)
    asks_function = bool(goal_examples.STUB.search(ctx.goal))
    system = (SYSTEM_FUNCTION if asks_function else SYSTEM).format(imports=imports)
    if ctx.data.get("fresh"):
        return [{"role": "system", "content": system},
                {"role": "user", "content": f"{ctx.goal}\n\n{FRESH.format(wrong=(ctx.data.get('error') or '').removeprefix(MISMATCH).strip())}"}]
    messages = [{"role": "system", "content": system}, {"role": "user", "content": ctx.goal}]
    if "code" in ctx.data:
        error, code = ctx.data.get("error"), ctx.data["code"]
        said = code if error == NO_ANSWER else f"```python\n{code}```"
        deliver = DEFINES if asks_function else PRINTS
        trace = TRACE if error and error.startswith(MISMATCH) else ""
        feedback = (NO_ANSWER_AGAIN if error == NO_ANSWER
                    else REPAIR.format(error=error, trace=trace, deliver=deliver) if error else SILENT)
        messages += [{"role": "assistant", "content": said}, {"role": "user", "content": feedback}]
    return messages


def echoes_the_prompt(answer: str) -> bool:
    """A small model sometimes copies the instruction line instead of answering ("<the answer> — only for ...")."""
    return answer.startswith("<") or "only for facts you know" in answer


def repair(ctx, code: str, error: str | None, partial: dict | None = None):
    """Hand the failed code and its error to a repair child, while repairs are left. Code that runs but fails
    the goal's examples (`partial`, with how many it gets wrong) is a candidate: the one failing the fewest so
    far travels down the chain as `best`. A repair that still fails the examples is followed by a fresh start
    (the goal and what went wrong, not the code: a small model asked to fix its own code tends to keep it),
    then by a repair of that, and so on. After the last one: the best candidate, marked as not meeting the
    goal, so the run ends `unmet` with it; else fail with the error."""
    left = int(ctx.data.get("repairs", ctx.config.run.max_repairs))
    problem = error or "the code printed nothing and its last expression had no value"
    best = ctx.data.get("best")
    if partial is not None and (best is None or partial["wrong"] < best["wrong"]):
        best = {**partial, "issues": [problem]}
    if left <= 0:
        if best is not None:
            return {key: best[key] for key in ("answer", "code", "logs", "issues") if key in best} | {"approved": False}
        raise FinalFailure(f"the code written for {ctx.goal!r} still failed after its repairs: {problem}")
    ctx.log(f"repair ({left} left): {problem.splitlines()[0][:200]}")
    child = {"goal": ctx.goal, "repairs": left - 1}
    if best is not None:
        child["best"] = best
    if partial is not None and "code" in ctx.data and not ctx.data.get("fresh"):
        child |= {"fresh": True, "error": error}  # its repair did not fix it either: start anew
    else:
        child |= {"code": code, "error": error}
    return ctx.spawn([ctx.child("solve", **child)])


def code_in(reply: str) -> str | None:
    """The longest python (or unlabelled) fenced block of a reply, or None when it holds none."""
    blocks = [body for lang, body in FENCE.findall(reply) if lang.lower() in ("python", "py", "python3", "")]
    blocks = [b for b in blocks if b.strip()]
    return max(blocks, key=len).strip() + "\n" if blocks else None


def answer_of(code: str, result) -> str | None:
    """The answer of code that ran: the value of a final bare expression (`round(area, 2)`); else what it
    printed; else the code itself when it ends with a definition (a function the goal asked for); else
    the value of a final assignment; else None (it produced nothing to show)."""
    last = last_statement(code)
    value = None if result.output is None else (
        result.output if isinstance(result.output, str) else json.dumps(result.output, ensure_ascii=False))
    if value is not None and isinstance(last, ast.Expr) and not is_print(last.value):
        return value[:LONGEST_ANSWER]
    if result.logs and result.logs.strip():
        return result.logs.strip()[-LONGEST_ANSWER:]
    if isinstance(last, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return code
    if value is not None and isinstance(last, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        return value[:LONGEST_ANSWER]
    return None


def last_statement(code: str) -> ast.stmt | None:
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return None
    return body[-1] if body else None


def is_print(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="solve",
        description="Answer a goal directly, or write Python for it, run it in the sandbox and repair it from its "
                    "errors: quick answers, calculations, functions, text transformations.",
        input_schema={"type": "object", "properties": {
            "goal": {"type": "string"},
            "code": {"type": "string", "description": "code that failed, to repair"},
            "error": {"type": ["string", "null"], "description": "how it failed (null: it printed nothing)"},
            "repairs": {"type": "integer", "minimum": 0, "description": "repairs still allowed"},
            "fresh": {"type": "boolean", "description": "start anew, told only what earlier attempts got wrong"},
            "best": {"type": "object", "description": "the candidate failing the fewest of the goal's examples so far"},
            "sample": {"type": "integer", "minimum": 0, "description": "write one candidate of several (0: the likeliest)"},
        }, "required": ["goal"]},
        execute=execute,
        examples=[{"goal": "What is the greatest common divisor of 1071 and 462?"}],
    )]
