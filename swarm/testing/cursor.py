"""Which script line answers a request: the first unconsumed match, taken atomically."""

from __future__ import annotations

import threading

from swarm.testing.script import ScriptLine


class ScriptCursor:
    """Hands out script lines to concurrent requests; non-repeat lines are used once."""

    def __init__(self, lines: list[ScriptLine]) -> None:
        self._lines = lines
        self._consumed = [False] * len(lines)
        self._lock = threading.Lock()

    def take(self, last_user: str) -> ScriptLine | None:
        """Pick (and consume, unless it repeats) the first free line matching `last_user`."""
        with self._lock:
            for line in self._lines:
                if self._consumed[line.index] or not line.matches(last_user):
                    continue
                if not line.repeat:
                    self._consumed[line.index] = True
                return line
        return None

    def unused(self) -> list[int]:
        """Indexes of non-repeat lines no request has consumed yet."""
        with self._lock:
            return [line.index for line in self._lines if not line.repeat and not self._consumed[line.index]]
