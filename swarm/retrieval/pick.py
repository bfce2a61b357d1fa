"""Routing end to end: retrieval's top-k, then the model's one choice among them, as the route node makes it.

`swarm route eval --pick` measures what a goal actually gets: the accuracy of the script the model
chooses (not only whether retrieval had it among the candidates), with the route node's own prompt
and reply schema (node_scripts/route.py), and what the choice costs in prompt tokens.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable

from swarm.errors import SwarmError
from swarm.retrieval.hybrid import HybridIndex

NO_INPUT = {"type": "object", "properties": {}}


def sample(rows: list[dict], n: int | None) -> list[dict]:
    """Every k-th row so that n rows are taken evenly across the file (all of them when n is None)."""
    if n is None or n >= len(rows):
        return rows
    step = len(rows) / n
    return [rows[int(i * step)] for i in range(n)]


def evaluate_pick(index: HybridIndex, queries: list[dict], model, top_k: int,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Accuracy of the model's pick among retrieval's top_k (and "none"), recall@top_k, prompt tokens."""
    from node_scripts.route import PROMPT, catalogue, choice_schema

    descriptions = {e.name: e.description for e in index.entries}
    picked = in_candidates = failures = 0
    tokens: list[int] = []
    seconds: list[float] = []
    for n, q in enumerate(queries, 1):
        names = [h.name for h in index.search(q["query"], top_k)]
        options = [{"name": name, "description": descriptions[name], "input_schema": NO_INPUT} for name in names]
        prompt = PROMPT.format(goal=q["query"], catalogue=catalogue(options), earlier="")
        started = time.monotonic()
        try:
            reply = model.complete([{"role": "user", "content": prompt}], schema=choice_schema(options))
        except SwarmError as exc:
            failures += 1
            choice = f"(failed: {str(exc)[:80]})"
        else:
            choice = reply.data.get("script")
            tokens.append(reply.prompt_tokens)
        seconds.append(time.monotonic() - started)
        hit = choice == q["expected"]
        picked += hit
        in_candidates += q["expected"] in names
        if progress:
            progress(f"pick {n}/{len(queries)}: {'ok ' if hit else 'miss'} expected={q['expected']} chose={choice} "
                     f"in_top_{top_k}={q['expected'] in names}")
    total = len(queries)
    return {
        "n": total,
        "top_k": top_k,
        "pick_accuracy": round(picked / total, 4),
        f"recall@{top_k}": round(in_candidates / total, 4),
        "pick_given_recall": round(picked / in_candidates, 4) if in_candidates else None,
        "failed_calls": failures,
        "prompt_tokens_mean": round(statistics.mean(tokens), 1) if tokens else None,
        "seconds_median": round(statistics.median(seconds), 2) if seconds else None,
    }


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
