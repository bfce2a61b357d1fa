"""Slots: how many node executions all the runs of one engine may have at once ([run].concurrency).

Each run's loop takes a slot for every execution it starts and gives it back when the execution
ends; a loop that found no slot free is woken when one is given back. Only the thread that runs
the engine's event loop touches a Slots (the loops live there), so it needs no lock.
"""

from __future__ import annotations

from typing import Protocol


class Waiting(Protocol):
    """A run's loop, as far as the slots know it."""

    run_id: str

    def wake(self) -> None:
        """A slot was given back: look at the ready queue again."""


class Slots:
    def __init__(self, limit: int):
        self.limit = limit
        self.active = 0  # executions running now, over every run
        self.loops: set = set()  # the loops of the runs being driven (RunLoop), woken when a slot frees

    def free(self) -> bool:
        return self.active < self.limit

    def take(self) -> None:
        self.active += 1

    def release(self) -> None:
        self.active -= 1
        if self.active == self.limit - 1:  # was full: a loop may be waiting for this slot
            for loop in self.loops:
                loop.wake()
