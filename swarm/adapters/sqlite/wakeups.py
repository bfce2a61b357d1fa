"""Wakeups over SQLite: none are sent. Everyone on an SQLite file is on one machine and reads the file cheaply, so
a run's loop and a daemon look at the store on their tick (swarm/lifecycle.py TICK_S, swarm/daemon/service.py
SHARE_S), as they always did; `instant = False` tells them so."""

from __future__ import annotations

from typing import Any, Callable


class SqliteWakeups:
    instant = False  # nothing is delivered: callers read the store on every tick
    received = 0

    def notify(self, c: Any, channel: str, payload: str) -> None:
        """Nothing to send: the readers poll."""

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> Callable[[], None]:
        return _nothing

    def close(self) -> None:
        pass


def _nothing() -> None:
    pass
