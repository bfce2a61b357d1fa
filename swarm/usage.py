"""Usage: what a run has used — tokens, cost, active time — and which of its budgets (swarm/budgets.py) it passed.

The run's loop counts every completed model call here (`count`: into the node that made it, and the run), asks
`over_budget()` each turn and `too_big(...)` before a spawn; a budget passed comes back as the reason the run stops
with ("budget: max_tokens=... exceeded ..."), and the loop stops it. Active time is the run's earlier drives'
(`active_s` of its row) plus this one's, from `start()`.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from swarm.node import TaskNode


class Usage:
    """The counts of one run, from its row, and the budgets it stops at."""

    def __init__(self, run: dict[str, Any], budgets: dict[str, float]):
        self.budgets = budgets
        self.prompt_tokens = run.get("prompt_tokens") or 0
        self.completion_tokens = run.get("completion_tokens") or 0
        self.tokens = self.prompt_tokens + self.completion_tokens
        self.cost = run.get("cost_usd") or 0.0
        self.active_s = run.get("active_s") or 0.0  # before this drive
        self.started = time.monotonic()

    def start(self) -> None:
        """This drive begins: its time counts from now."""
        self.started = time.monotonic()

    def active(self) -> float:
        """Seconds the run has been driven, this drive included."""
        return self.active_s + time.monotonic() - self.started

    def count(self, calls: Iterable[dict], nodes: dict[str, TaskNode]) -> bool:
        """Count completed model calls into their nodes and the run; whether there were any."""
        counted = False
        for row in calls:
            node = nodes.get(row["node_id"])
            if node is not None:
                node.prompt_tokens += row["prompt_tokens"]
                node.completion_tokens += row["completion_tokens"]
                node.cost_usd += row["cost_usd"]
            self.prompt_tokens += row["prompt_tokens"]
            self.completion_tokens += row["completion_tokens"]
            self.tokens += row["prompt_tokens"] + row["completion_tokens"]
            self.cost += row["cost_usd"]
            counted = True
        return counted

    def totals(self) -> dict[str, Any]:
        """The run row's counts."""
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "cost_usd": self.cost}

    def over_budget(self) -> str | None:
        """The budget of tokens, cost or wall time the run passed, as the reason it stops; None while within them."""
        b = self.budgets
        if self.tokens > b["max_tokens"]:
            return f"budget: max_tokens={b['max_tokens']} exceeded ({self.tokens} used)"
        if self.cost > b["max_cost_usd"]:
            return f"budget: max_cost_usd={b['max_cost_usd']} exceeded (${self.cost:.4f} spent)"
        if self.active() > b["max_wall_s"]:
            return f"budget: max_wall_s={b['max_wall_s']} reached"
        return None

    def too_big(self, node: TaskNode, population: int, children: int) -> str | None:
        """Whether `children` more under `node` would pass max_depth or max_nodes, as the reason the run stops."""
        b = self.budgets
        if node.depth + 1 > b["max_depth"]:
            return f"budget: max_depth={b['max_depth']} reached at node {node.id}"
        if population + children > b["max_nodes"]:
            return f"budget: max_nodes={b['max_nodes']} reached"
        return None
