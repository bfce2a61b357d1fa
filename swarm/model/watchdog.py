"""Watchdog: one thread that runs callbacks when their time comes — ending a model request at
its deadline, saying what a long one waits on.

One thread for every request of a client, not a timer thread per request; started on first use,
and ended when it has had nothing to watch for IDLE_EXIT_S.
A callback runs on this thread, so it must be quick (shut a socket down, log a line).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

IDLE_EXIT_S = 30.0  # a watchdog with nothing to watch this long ends its thread (a client may never be closed)


class Alarm:
    """A callback due at a time; `cancel()` before then and it never runs."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Watchdog:
    def __init__(self, name: str = "swarm-model-watchdog") -> None:
        self._name = name
        self._due: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def after(self, seconds: float, callback: Callable[[], None]) -> Alarm:
        """Run `callback` on the watchdog's thread `seconds` from now, unless the Alarm is cancelled first."""
        alarm = Alarm(time.monotonic() + seconds, callback)
        with self._changed:
            if self._closed:
                alarm.cancel()
                return alarm
            heapq.heappush(self._due, (alarm.when, next(self._order), alarm))
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name=self._name, daemon=True)
                self._thread.start()
            self._changed.notify()
        return alarm

    def close(self) -> None:
        """Stop the thread; alarms not yet due never run."""
        with self._changed:
            self._closed = True
            self._due.clear()
            self._changed.notify()

    def _watch(self) -> None:
        while True:
            with self._changed:
                alarm = self._next_due()
                if alarm is None:
                    return
            try:
                alarm.callback()
            except Exception:  # a callback's failure must not stop the alarms after it
                log.exception("swarm: a model watchdog callback failed")

    def _next_due(self) -> Alarm | None:
        """Wait (holding the condition) for the next alarm that is due and not cancelled; None once closed or idle."""
        while not self._closed:
            while self._due and self._due[0][2].cancelled:
                heapq.heappop(self._due)
            if not self._due:
                if not self._changed.wait(IDLE_EXIT_S) and not self._due:
                    self._thread = None  # idle: end; the next alarm starts a new thread
                    return None
                continue
            wait = self._due[0][0] - time.monotonic()
            if wait <= 0:
                return heapq.heappop(self._due)[2]
            self._changed.wait(wait)
        return None
