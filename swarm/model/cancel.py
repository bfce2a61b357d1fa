"""Cancellation: a flag one thread raises to stop work another thread is doing, with callbacks
that stop that work at once (a model request blocked on the network, a wait before a retry)."""

from __future__ import annotations

import threading
from typing import Callable


class Cancellation:
    """Raised once by `cancel()`, from any thread; callbacks registered with `on_cancel` then run.

    A callback registered after the cancel runs at once, so no cancel is missed however the
    two threads interleave.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.cancelled = False

    def cancel(self) -> None:
        with self._lock:
            if self.cancelled:
                return
            self.cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` when cancelled (now, if already); returns a function that unregisters it."""
        with self._lock:
            if not self.cancelled:
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
