"""What the daemon writes next to a finished goal file: NAME.result.md for a run, NAME.error.txt for a refused file.

Pure functions of the recorded run (or the error), so writing them again after a crash gives
the same text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from swarm.config import DEMO_SCRIPT
from swarm.statuses import RunStatus
from swarm.store import loads

# Statuses whose run row's stop_reason says why the run ended that way (any other status: it is stale).
STOPPED = (RunStatus.STOPPED, RunStatus.CANCELLED, RunStatus.INTERRUPTED)


def answer_text(result: Any) -> str:
    if isinstance(result, dict) and isinstance(result.get("answer"), str):
        return result["answer"]
    if isinstance(result, str):
        return result
    return "```json\n" + json.dumps(result, ensure_ascii=False, indent=2) + "\n```"


def model_of(run: dict[str, Any]) -> tuple[str, bool]:
    """Which model answered, in words (its name and the host of its endpoint), and whether it was the scripted demo."""
    described = run.get("model") or ""
    if described.startswith("scripted:"):
        path = described[len("scripted:"):]
        if path and Path(path).resolve() == DEMO_SCRIPT.resolve():
            return (f"the scripted demo model ({DEMO_SCRIPT.name}), not a real model: its replies are canned; "
                    "set [model].base_url in swarm.toml or OPENAI_BASE_URL to use a real one"), True
        return f"a scripted model ({path}), not a real model: its replies are canned", False
    name, at, url = described.partition(" at ")
    if not at:
        return described or "not recorded", False
    parts = urlsplit(url)
    return f"{name} at {parts.netloc or url}", False


def dropped_as(file_name: str, original: str | None) -> list[str]:
    return [f"(dropped into inbox/ as {original})", ""] if original and original != file_name else []


def result_markdown(file_name: str, run: dict[str, Any], original: str | None = None) -> str:
    """NAME.result.md: the answer (or why there is none), which model gave it, run id, status, cost, tokens,
    where to see more. `file_name` is the goal file's name as filed (in done/ or failed/), `original` the
    name it was dropped under, when that differs (a name clash, a name made safe)."""
    run_id, status = run["id"], run["status"]
    prompt, completion = run.get("prompt_tokens") or 0, run.get("completion_tokens") or 0
    model, demo = model_of(run)
    lines = [f"# {file_name}", "", *dropped_as(file_name, original)]
    if demo:
        lines += ["> This answer comes from the scripted demo model, not a real model: its figures and facts are "
                  "canned demo text.", ""]
    lines += [
        f"- model: {model}",
        f"- run: `{run_id}`",
        f"- status: {status}" + (f" ({run['stop_reason']})" if run.get("stop_reason") and status in STOPPED else ""),
        f"- cost: ${run.get('cost_usd') or 0.0:.4f}",
        f"- tokens: {prompt + completion} ({prompt} prompt, {completion} completion)",
        f"- nodes: {run.get('nodes') or 0}",
        f"- history: `swarm history {run_id}` (the tree: `swarm show {run_id}`)",
        "",
        "## Goal",
        "",
        run["goal"],
        "",
    ]
    if status == RunStatus.DONE:
        lines += ["## Answer", "", answer_text(loads(run["result"])), ""]
    elif status == RunStatus.UNMET and run.get("result"):
        result = loads(run["result"])
        issues = result.get("issues") if isinstance(result, dict) else None
        lines += ["## Partial answer (the goal was not met)", "", answer_text(result), ""]
        if issues:
            lines += ["What the review found missing:", "", *[f"- {i}" for i in issues], ""]
    elif status in STOPPED and run.get("result"):
        lines += [f"## Partial answer (the run {status} before meeting its goal: {run.get('stop_reason') or status})", "",
                  answer_text(loads(run["result"])), "",
                  f"See what happened with `swarm history {run_id}`; drop the goal file into inbox/ again to retry.", ""]
    else:
        why = run.get("error") or run.get("stop_reason") or status
        lines += ["## No answer", "", f"The run ended {status}: {why}", "",
                  f"See what happened with `swarm history {run_id}`; drop the goal file into inbox/ again to retry.", ""]
    return "\n".join(lines)


def error_text(file_name: str, error: str, original: str | None = None) -> str:
    """NAME.error.txt: what is wrong with the file and what to do."""
    return (
        f"{file_name} was not run" + (f" (dropped into inbox/ as {original})" if original and original != file_name else "")
        + ".\n\n"
        f"What is wrong: {error}\n\n"
        "What to do: fix the file and drop it into inbox/ again. A goal file is a .md or .txt file whose text\n"
        "is the goal, or a .json or .toml table with `goal` and optionally max_nodes, max_depth, max_tokens,\n"
        "max_cost_usd, max_wall_s, model and script.\n"
    )
