"""The timeouts of the executions one loop runs: one heap of deadlines and at most one timer on the asyncio loop.

A timer per execution (call_later, then cancel) costs a timer object, a push on the asyncio loop's own
heap and a cancel for every node, and leaves the cancelled ones in that heap until it is cleaned. Here an
execution's deadline is one tuple pushed on a heap; when it ends early its entry is only forgotten (it is
dropped when it comes to the top, or when forgotten ones outnumber the live ones). The one timer is armed
for the earliest deadline, so every timeout still fires when it is due, not on the next tick.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from typing import Any, Callable, Hashable


class Deadlines:
    """`add(key, value, seconds)`: call `expire(key, value)` on the loop in `seconds`, unless `discard(key)` comes first."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expire: Callable[[Hashable, Any], None]):
        self.loop = loop
        self.expire = expire
        self.heap: list[tuple[float, int, Hashable, Any]] = []  # (when, entry number, key, value)
        self.live: dict[Hashable, int] = {}  # key -> the entry number of its deadline still to come
        self.numbers = itertools.count()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = float("inf")

    def add(self, key: Hashable, value: Any, seconds: float) -> None:
        """From the loop's thread: a deadline for `key` (replacing any it had)."""
        when = self.loop.time() + seconds
        number = next(self.numbers)
        self.live[key] = number
        heapq.heappush(self.heap, (when, number, key, value))
        if len(self.heap) > 2 * len(self.live) + 64:  # mostly forgotten entries: keep the heap as small as the live set
            self.heap = [entry for entry in self.heap if self.live.get(entry[2]) == entry[1]]
            heapq.heapify(self.heap)
        if when < self.timer_at:
            self._arm(when)

    def discard(self, key: Hashable) -> None:
        """The execution ended in time: its deadline is forgotten (O(1); the heap entry goes later)."""
        self.live.pop(key, None)

    def __len__(self) -> int:
        return len(self.live)

    def close(self) -> None:
        """No more timeouts: the timer is cancelled and every deadline forgotten."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.timer_at = float("inf")
        self.heap.clear()
        self.live.clear()

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = when
        self.timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self.timer, self.timer_at = None, float("inf")
        now = self.loop.time() + 1e-4  # asyncio may call a timer up to its clock's resolution early
        due = []
        heap, live = self.heap, self.live
        while heap and (heap[0][0] <= now or live.get(heap[0][2]) != heap[0][1]):
            when, number, key, value = heapq.heappop(heap)
            if live.get(key) == number:
                del live[key]
                due.append((key, value))
        if heap:
            self._arm(heap[0][0])
        for key, value in due:
            self.expire(key, value)
