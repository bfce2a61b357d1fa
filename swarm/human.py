"""Where a node's question to a person goes: the terminal, a prepared list of answers, or nowhere yet."""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Protocol


class HumanChannel(Protocol):
    async def ask(self, run_id: str, node_id: str, question: str, proposal: Any) -> str | None:
        """Return the person's answer, or None when no answer can be had now (the node keeps waiting)."""


class TerminalHuman:
    """Asks inline on the terminal of a foreground `swarm run`."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.lock = asyncio.Lock()

    async def ask(self, run_id: str, node_id: str, question: str, proposal: Any) -> str | None:
        async with self.lock:  # one question on the screen at a time
            text = f"\n[swarm] node {node_id} asks: {question}\n"
            if proposal is not None:
                text += f"proposal: {proposal}\n"
            self.stream.write(text + "your answer> ")
            self.stream.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
        return line.rstrip("\n") if line else None


class PreparedAnswers:
    """Answers given in advance, by node id (or '*' for any node); used by `--answer` and by tests."""

    def __init__(self, answers: dict[str, str]):
        self.answers = dict(answers)

    async def ask(self, run_id: str, node_id: str, question: str, proposal: Any) -> str | None:
        if node_id in self.answers:
            return self.answers.pop(node_id)
        return self.answers.get("*")
