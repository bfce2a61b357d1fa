"""Where a node's question to a person goes: the terminal, a prepared list of answers, or nowhere yet."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, Protocol


class HumanChannel(Protocol):
    async def ask(self, run_id: str, node_id: str, question: str, proposal: Any) -> str | None:
        """Return the person's answer, or None when no answer can be had now (the node keeps waiting)."""


class TerminalHuman:
    """Asks inline on the terminal of a foreground `swarm run`."""

    name = "terminal"

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.lock = asyncio.Lock()

    async def ask(self, run_id: str, node_id: str, question: str, proposal: Any) -> str | None:
        async with self.lock:  # one question on the screen at a time
            text = f"\n[swarm] node {node_id} asks: {question}\n"
            if isinstance(proposal, dict) and isinstance(proposal.get("code"), str):
                shown = {k: v for k, v in proposal.items() if k not in ("code", "tests") and v not in (None, "", [], {})}
                text += "".join(f"{k}: {v}\n" for k, v in shown.items()) + "code:\n" + proposal["code"].rstrip("\n") + "\n"
            elif proposal is not None:
                text += f"proposal: {proposal}\n"
            self.stream.write(text + "your answer> ")
            self.stream.flush()
            line = await _read_line()
        return line.rstrip("\n") if line else None


class PreparedAnswers:
    """Answers given in advance, by node id (or '*' for any node); used by `--answer` and by tests."""

    name = "--answer"

    def __init__(self, answers: dict[str, str]):
        self.answers = dict(answers)

    async def ask(self, run_id: str, node_id: str, question: str, proposal: Any) -> str | None:
        if node_id in self.answers:
            return self.answers.pop(node_id)
        return self.answers.get("*")


async def _read_line() -> str:
    """The next line from stdin. One daemon thread reads it for whichever question waits now: a
    question settled elsewhere (decided by `swarm approve`, timed out) stops waiting without taking
    the line meant for the next one, and never keeps the process from exiting."""
    global _next_line
    loop = asyncio.get_running_loop()
    if _next_line is None or _next_line.done() or _next_line.get_loop() is not loop:
        future = _next_line = loop.create_future()

        def read() -> None:
            line = sys.stdin.readline()
            try:
                loop.call_soon_threadsafe(lambda: future.done() or future.set_result(line))
            except RuntimeError:  # the run ended meanwhile
                pass

        threading.Thread(target=read, name="swarm-stdin", daemon=True).start()
    return await asyncio.shield(_next_line)


_next_line: asyncio.Future | None = None
