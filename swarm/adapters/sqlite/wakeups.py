"""Wakeups over SQLite: none are sent. Everyone on an SQLite file is on one machine and reads the file cheaply, so
a run's loop and a daemon look at the store on their tick (swarm/lifecycle.py TICK_S, swarm/daemon/service.py
SHARE_S), as they always did; `instant = False` tells them so. `written_elsewhere()` lets a reader skip a look
when no other connection has committed since its last one (SQLite's data_version)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from swarm.adapters.sqlite.handle import Handle


class SqliteWakeups:
    instant = False  # nothing is delivered: callers read the store on every tick
    received = 0

    def __init__(self, handle: Handle):
        self.handle = handle
        self.version: int | None = None  # the file's data_version when last asked

    def written_elsewhere(self) -> bool:
        """Whether another connection (another process, another store object) committed to the file since the
        last call; True the first time. One pragma, no table read: the connection's own commits do not count."""
        with self.handle.lock:
            version = self.handle.conn.execute("PRAGMA data_version").fetchone()[0]
        changed, self.version = version != self.version, version
        return changed

    def notify(self, c: Any, channel: str, payload: str) -> None:
        """Nothing to send: the readers poll."""

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> Callable[[], None]:
        return _nothing

    def close(self) -> None:
        pass


def _nothing() -> None:
    pass
