"""What the daemon writes next to a finished goal file: NAME.result.md for a run, NAME.error.txt for a refused file.

Pure functions of the recorded run (or the error), so writing them again after a crash gives
the same text.
"""

from __future__ import annotations

import json
from typing import Any

from swarm.store import loads


def answer_text(result: Any) -> str:
    if isinstance(result, dict) and isinstance(result.get("answer"), str):
        return result["answer"]
    if isinstance(result, str):
        return result
    return "```json\n" + json.dumps(result, ensure_ascii=False, indent=2) + "\n```"


def result_markdown(file_name: str, run: dict[str, Any]) -> str:
    """NAME.result.md: the answer (or why there is none), run id, status, cost, tokens, where to see more."""
    run_id, status = run["id"], run["status"]
    prompt, completion = run.get("prompt_tokens") or 0, run.get("completion_tokens") or 0
    lines = [
        f"# {file_name}",
        "",
        f"- run: `{run_id}`",
        f"- status: {status}" + (f" ({run['stop_reason']})" if run.get("stop_reason") else ""),
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
    if status == "done":
        lines += ["## Answer", "", answer_text(loads(run["result"])), ""]
    else:
        why = run.get("error") or run.get("stop_reason") or status
        lines += ["## No answer", "", f"The run ended {status}: {why}", "",
                  f"See what happened with `swarm history {run_id}`; drop the goal file into inbox/ again to retry.", ""]
    return "\n".join(lines)


def error_text(file_name: str, error: str) -> str:
    """NAME.error.txt: what is wrong with the file and what to do."""
    return (
        f"{file_name} was not run.\n\n"
        f"What is wrong: {error}\n\n"
        "What to do: fix the file and drop it into inbox/ again. A goal file is a .md or .txt file whose text\n"
        "is the goal, or a .json or .toml table with `goal` and optionally max_nodes, max_depth, max_tokens,\n"
        "max_cost_usd, max_wall_s, model and script.\n"
    )
