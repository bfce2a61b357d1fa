"""Worker threads for node scripts: a fixed set, all started up front, fed from one queue.

Scripts block (on the model, on code they run), so each runs on a thread of its own and
siblings really run at once. The threads exist before the first fan-out needs them, and
a task is a plain call: no futures, since outcomes go back through the loop's inbox.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class Workers:
    def __init__(self, size: int, name: str = "swarm-node"):
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(size)]
        for thread in self.threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        self.tasks.put((fn, args))

    def _work(self) -> None:
        while True:
            task = self.tasks.get()
            if task is None:
                return
            fn, args = task
            try:
                fn(*args)
            except BaseException:  # a task must never take its thread down with it
                log.exception("swarm: a worker task failed")

    def shutdown(self) -> None:
        """Let the threads end once they finish what they run; does not wait for them."""
        for _ in self.threads:
            self.tasks.put(None)
