"""The loop's inbox: outcomes from worker threads, timers and people, handed over in bulk.

However many executions finish at once, the loop is woken once and takes them all,
so a wide fan-out costs one wake-up per turn instead of one per node.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class Inbox:
    def __init__(self) -> None:
        self.items: deque[Any] = deque()
        self.ready = asyncio.Event()
        self.wake_pending = False
        self.loop = asyncio.get_running_loop()

    def put(self, item: Any) -> None:
        """From any thread."""
        self.items.append(item)
        if not self.wake_pending:  # a wake-up already on its way will find this item too
            self.wake_pending = True
            try:
                self.loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop has closed: the run ended, and this outcome with it
                pass

    def put_here(self, item: Any) -> None:
        """From the loop's own thread."""
        self.items.append(item)
        self.ready.set()

    def _wake(self) -> None:
        self.wake_pending = False
        self.ready.set()

    async def take(self) -> list[Any]:
        """Everything that arrived; waits for at least one item."""
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        taken = []
        while self.items:
            taken.append(self.items.popleft())
        return taken
