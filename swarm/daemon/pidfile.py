"""The daemon's pidfile: written and locked while it runs, so a second daemon is refused and a stale file is harmless.

The lock (flock) is what says "running": the kernel drops it when the process dies, even
after `kill -9`, so a pidfile left behind by a killed daemon never blocks the next start.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from swarm.errors import SwarmError


class DaemonRunning(SwarmError):
    exit_code = 2

    def __init__(self, path: Path, pid: int | None):
        super().__init__(
            f"a daemon is already running (pid {pid or '?'}, pidfile {path}); stop it with `swarm daemon stop`, "
            "or give this one another [daemon].pidfile and folder"
        )


class PidFile:
    """Held by the running daemon: `acquire()` on start, `release()` on a clean exit."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self) -> PidFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DaemonRunning(self.path, read_pid(self.path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing drops the lock
            self.fd = None


def read_pid(path: Path) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(path: Path) -> int | None:
    """The pid of the daemon holding this pidfile's lock, or None when no daemon holds it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_pid(path) or -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
